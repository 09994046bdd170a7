/* The POSIX <sys/socket.h> on Windows: winsock, through compat.h. */
#include "../compat.h"
