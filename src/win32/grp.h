/* The POSIX <grp.h> on Windows: nothing (no groups; sb_drop_privileges
 * fails with ENOSYS there). */
#include "compat.h"
