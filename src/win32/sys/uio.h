/* The POSIX <sys/uio.h> on Windows: winsock, through compat.h. */
#include "../compat.h"
