/* The POSIX <sys/un.h> on Windows: winsock, through compat.h. */
#include "../compat.h"
