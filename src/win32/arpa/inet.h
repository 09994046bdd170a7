/* The POSIX <arpa/inet.h> on Windows: winsock, through compat.h. */
#include "../compat.h"
