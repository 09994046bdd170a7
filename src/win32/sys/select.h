/* The POSIX <sys/select.h> on Windows: winsock, through compat.h. */
#include "../compat.h"
