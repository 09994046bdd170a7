/* The POSIX <pwd.h> on Windows: nothing (no users to switch to;
 * sb_drop_privileges fails with ENOSYS there). */
#include "compat.h"
