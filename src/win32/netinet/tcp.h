/* The POSIX <netinet/tcp.h> on Windows: winsock, through compat.h. */
#include "../compat.h"
