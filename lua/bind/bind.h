/* bind.h - what the binding files share: the tensor userdata, argument conversion and the error path.
   Each lua/bind/X.c exports `void ember_open_X(lua_State *L)` which adds its functions to the ember
   table on top of the stack (ember_register) and its methods to tensors (ember_tensor_methods). */
#ifndef EMBER_BIND_H
#define EMBER_BIND_H
#include <lua.h>
#include <lauxlib.h>
#include "tensor.h"

#define EM_TENSOR_MT "ember.Tensor"

/* the userdata of a tensor; the tag makes "is this a tensor?" one compare instead of a metatable fetch */
#define LT_MAGIC 0x454d4252u   /* "EMBR" */
typedef struct lt_box { em_tensor *t; unsigned magic; } lt_box;

em_tensor *lt_check(lua_State *L, int idx);     /* borrowed; raises lt_argerror when not an open tensor */
em_tensor *lt_test(lua_State *L, int idx);      /* borrowed or NULL */
/* pushes t as a new userdata, taking over the caller's reference. t == NULL raises em_error() as a
   Lua error (so `lt_push(L, em_add(a, b))` is the whole error path of an op). */
void lt_push(lua_State *L, em_tensor *t);
/* a tensor from a tensor (retained), a number (0-d) or a nested table of numbers; new reference */
em_tensor *lt_to_tensor(lua_State *L, int idx, const char *fn);
/* the tensor at idx, for an in-place change by fn: refused with grad mode on when it requires grad or
   is a view of such a tensor made under no_grad (the change would be invisible to autograd) */
em_tensor *lt_check_writable(lua_State *L, int idx, const char *fn);
/* as lt_check_writable, for a change that writes different values to different elements (copy, add_):
   an expanded tensor, whose elements share memory, is refused too, as PyTorch does */
em_tensor *lt_check_writable_each(lua_State *L, int idx, const char *fn);
/* Errors (lua/bind/error.c): every error is ember's one error type (lua/ember/error.lua), a table with
   kind, fn, message and where. A message "name: text" gets fn = the public name of name ("ember.name").
   lt_raise raises em_error() with em_error_kind(); lt_error a printf-style message (lua_pushfstring's
   formats) of the given kind ("value", "shape", "type", "io", "format", "state", "memory", "usage",
   "interrupted"). Neither returns. */
int lt_raise(lua_State *L);
int lt_error(lua_State *L, const char *kind, const char *fmt, ...);
/* pushes "file:line: " of the innermost caller outside ember's own Lua modules, or "" */
void lt_push_where(lua_State *L);
/* a wrong argument, raised as an ember error like every other: "ember.NAME: argument N must be WHAT (got
   TYPE)", kind "type" (or "value" for a number that is not an integer), where NAME is the called
   function's (ember.narrow; a method call numbers its arguments after self, as Lua's own messages do).
   The lt_check / lt_opt functions below are luaL_check* / luaL_opt* with these messages. */
int lt_argerror(lua_State *L, int arg, const char *kind, const char *what);
/* the same for a tensor argument that was closed ("... must be a tensor (got a closed tensor)") */
int lt_closed_error(lua_State *L, int arg);
/* pushes and returns what a message shows of the value at arg: a number's text (nan for NaN), else its type */
const char *lt_got(lua_State *L, int arg);
/* pushes the tensor method table (x:name looks there) */
void lt_push_methods(lua_State *L);
lua_Number lt_checknumber(lua_State *L, int arg);
lua_Integer lt_checkinteger(lua_State *L, int arg);
lua_Number lt_optnumber(lua_State *L, int arg, lua_Number def);
lua_Integer lt_optinteger(lua_State *L, int arg, lua_Integer def);
void lt_checktype(lua_State *L, int arg, int type);
/* true or false at arg, def when nil or absent; anything else ("no", 0, a table) is an error, not a truth */
int lt_optboolean(lua_State *L, int arg, int def);
/* the index in list (NULL-ended) of the string at arg, def when arg is nil or absent; what lists them */
int lt_checkoption(lua_State *L, int arg, const char *def, const char *const list[], const char *what);
/* is the value at idx an ember error? and the exit status `ember` ends with for it (1 for any other value) */
int lt_is_error(lua_State *L, int idx);
int lt_error_status(lua_State *L, int idx);
/* a string argument (a number is taken as its text) without NUL bytes, which C would cut it at, so that
   "runs/a\0b" cannot open "runs/a" nor "direct\0x" pick a kernel (sys.c); what names it in the errors
   ("FN: WHAT must be a string", "FN: WHAT cannot contain a NUL byte"), fn as lt_error's "name: " */
const char *lt_check_string(lua_State *L, int idx, const char *fn, const char *what);
/* lt_check_string of a file name */
const char *lt_check_path(lua_State *L, int idx, const char *fn);
/* a 1-based Lua dim (negative counts from the end) to the core's 0-based one; raises when out of range */
int lt_check_dim(lua_State *L, int idx, int ndim, const char *fn);
/* sizes given as integers from index first on, or one table of integers at first; returns ndim */
int lt_check_shape(lua_State *L, int first, int64_t shape[EM_MAX_DIMS], const char *fn);
/* tells the Lua GC about tensor bytes allocated since the last call (keeps training loops flat) */
void lt_gc_account(lua_State *L);

void ember_register(lua_State *L, const luaL_Reg *fns);        /* into the table at -1 */
void ember_tensor_methods(lua_State *L, const luaL_Reg *fns);  /* into the tensor method table */
/* registers the metatable name with gc as its __gc: a box of C memory that Lua frees when it collects
   the userdata, also when an error unwinds past the function that made it */
void lt_gc_metatable(lua_State *L, const char *name, lua_CFunction gc);

/* the per-file openers luaopen_ember calls */
void ember_open_tensor(lua_State *L);
void ember_open_ops(lua_State *L);
void ember_open_autograd(lua_State *L);
void ember_open_nn(lua_State *L);
void ember_open_loss(lua_State *L);
void ember_open_optim(lua_State *L);
void ember_open_data(lua_State *L);
void ember_open_checkpoint(lua_State *L);
void ember_open_weights(lua_State *L);
void ember_open_sys(lua_State *L);
void ember_open_process(lua_State *L);   /* ember._process: child processes for ember sweep */
void ember_open_fs(lua_State *L);
/* weights.c: when the file at path is a safetensors or npz file (by its first bytes), pushes its tensors as
   a table name -> tensor and returns 1 (raising on a corrupt file); else returns -1 and pushes nothing */
int lt_load_weights(lua_State *L, const char *path);
/* main.c: Ctrl-C and SIGTERM interrupt the running chunk, or (with ember._graceful(true)) only
   count, so a runner can finish its step and save */
void ember_install_signals(lua_State *L);
#endif
