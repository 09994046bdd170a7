/* The POSIX <netinet/in.h> on Windows: winsock, through compat.h. */
#include "../compat.h"
