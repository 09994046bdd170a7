/* The POSIX <net/if.h> on Windows: winsock, through compat.h. */
#include "../compat.h"
