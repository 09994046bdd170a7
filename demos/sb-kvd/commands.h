/*
 * sb-kvd's commands: every command's implementation and their table
 * (sorted by name, found by binary search, with the arity, flags and key
 * positions that COMMAND reports).  Values are strings; integers are
 * parsed when INCR & co. need them.
 */
#ifndef SB_KVD_COMMANDS_H
#define SB_KVD_COMMANDS_H

#include "kvd.h"

/* Look the command av[0] up, check arity and memory, run it.  The
 * arguments are valid while it runs. */
void execute(client *cl, arg *av, int ac);

#endif
