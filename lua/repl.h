/* repl.h - the interactive session of `ember` with no arguments (lua/repl.c). */
#ifndef EMBER_REPL_H
#define EMBER_REPL_H
#include <lua.h>
/* runs the read-eval-print loop on a terminal until end of input; returns the exit status */
int ember_repl(lua_State *L);

/* from main.c, shared with the REPL: calls the function below nargs arguments on the stack under a
   message handler that adds a traceback (as lua.c's docall); returns the lua_pcall status */
int ember_docall(lua_State *L, int nargs, int nres);
#endif
