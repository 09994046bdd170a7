/* The POSIX <netdb.h> on Windows: winsock, through compat.h. */
#include "compat.h"
