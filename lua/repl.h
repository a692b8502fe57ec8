/* repl.h - the interactive session of `ember` with no arguments (lua/repl.c). */
#ifndef EMBER_REPL_H
#define EMBER_REPL_H
#include <lua.h>
/* runs the read-eval-print loop on a terminal until end of input; returns the exit status */
int ember_repl(lua_State *L);
#endif
