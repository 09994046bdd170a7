/* The POSIX <poll.h> on Windows: winsock, through compat.h. */
#include "compat.h"
