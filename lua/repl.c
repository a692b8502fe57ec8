/* repl.c - the interactive session of `ember` with no arguments: readline with persistent history and
   completion, the read-eval-print loop of lua.c (expressions print, incomplete input continues), and
   Ctrl-C that cancels the line being typed or interrupts the running chunk. The Lua side (printing,
   help, completion candidates, `?` and `:` commands) lives in lua/ember/repl/. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/select.h>
#include <readline/readline.h>
#include <readline/history.h>
#include <lua.h>
#include <lauxlib.h>
#include "embedded.h"
#include "repl.h"

#define HISTORY_MAX 1000
#define PROMPT1 "> "
#define PROMPT2 ">> "
#define EOFMARK "<eof>"


static lua_State *repl_L;
static int repl_ref = LUA_NOREF;       /* the ember.repl module, or LUA_NOREF when it failed to load */
static char history_path[4096];

/* ---------------------------------------------------------------------------------------------
   signals while reading: the handler of sys.c would arm a hook that interrupts the *next* chunk,
   so during readline our own handlers only raise flags that the read loop acts on */

static volatile sig_atomic_t got_int, got_term, got_winch;

static void on_read_signal(int sig) {
  if (sig == SIGINT) got_int = 1;
  else if (sig == SIGWINCH) got_winch = 1;
  else got_term = 1;
}

struct saved_handlers { struct sigaction intr, term, winch; };

static void take_signals(struct saved_handlers *old) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_read_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old->intr);
  sigaction(SIGTERM, &sa, &old->term);
  sigaction(SIGWINCH, &sa, &old->winch);
}

static void give_back_signals(const struct saved_handlers *old) {
  sigaction(SIGINT, &old->intr, NULL);
  sigaction(SIGTERM, &old->term, NULL);
  sigaction(SIGWINCH, &old->winch, NULL);
}

/* ---------------------------------------------------------------------------------------------
   reading a line: readline's callback interface under pselect, so that Ctrl-C can abandon the line
   (the blocking readline() restarts its read after a signal and would keep the half-typed line) */

enum { READ_LINE, READ_EOF, READ_INTERRUPTED, READ_TERMINATED };

static char *cb_line;
static int cb_done;

static void on_line(char *line) {
  cb_line = line;
  cb_done = 1;
  rl_callback_handler_remove();
}

/* Readline 8.2 crashes in callback mode when an incremental search (Ctrl-R) meets a prefix key and
   then a key the prefix leaves unbound (Ctrl-R Ctrl-X a): the search pushes the prefix back and
   re-dispatches it from inside its own callback, which then reads a NULL key-sequence context
   (Python's REPL crashes the same way; blocking readline(), as lua5.4 uses, does not). So during a
   search ember reads the key itself: a prefix key ends the search first, keeping the line it found as
   readline would, and then reaches readline as an ordinary key. ESC is left to readline: it is a search
   terminator, and the arrow keys that start with it work. */
static void end_search_before_prefix(void) {
  unsigned char c;
  if (read(fileno(rl_instream), &c, 1) != 1) return;   /* EOF or an error: readline reads it again */
  Keymap km = rl_get_keymap();
  if (c != 27 && km[c].type == ISKMAP) rl_callback_sigcleanup();
  rl_stuff_char(c);
}

static int read_line(const char *prompt, char **out) {
  struct saved_handlers old;
  sigset_t block, orig;
  int status = READ_LINE;
  *out = NULL;
  got_int = got_term = got_winch = 0;
  fflush(stdout);
  fflush(stderr);
  if (rl_instream) rl_reset_screen_size();   /* the terminal may have been resized while a chunk ran */
  take_signals(&old);
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGWINCH);
  sigprocmask(SIG_BLOCK, &block, &orig);
  cb_line = NULL;
  cb_done = 0;
  rl_callback_handler_install(prompt, on_line);
  while (!cb_done) {
    if (got_winch) { got_winch = 0; rl_resize_terminal(); }
    if (got_int || got_term) {
      status = got_term ? READ_TERMINATED : READ_INTERRUPTED;
      /* the newline goes first: leaving bracketed-paste mode writes a carriage return */
      fputs(got_int ? "^C\n" : "\n", stdout);
      fflush(stdout);
      rl_free_line_state();
      rl_callback_sigcleanup();
      rl_callback_handler_remove();   /* restores the terminal modes */
      break;
    }
    fd_set fds;
    FD_ZERO(&fds);
    FD_SET(fileno(rl_instream), &fds);
    /* signals are blocked except inside pselect: none is lost between the flag test and the wait */
    int r = pselect(fileno(rl_instream) + 1, &fds, NULL, NULL, NULL, &orig);
    if (r < 0) {
      if (errno == EINTR) continue;
      rl_callback_handler_remove();
      status = READ_EOF;
      break;
    }
    sigprocmask(SIG_SETMASK, &orig, NULL);   /* completion may run Lua: let a Ctrl-C there set the flag */
    if (RL_ISSTATE(RL_STATE_ISEARCH)) end_search_before_prefix();
    rl_callback_read_char();
    sigprocmask(SIG_BLOCK, &block, NULL);
  }
  sigprocmask(SIG_SETMASK, &orig, NULL);
  give_back_signals(&old);
  got_int = got_term = got_winch = 0;
  if (status != READ_LINE) return status;
  if (!cb_line) return READ_EOF;
  *out = cb_line;
  return READ_LINE;
}

/* ---------------------------------------------------------------------------------------------
   history: one entry per physical line, appended to the file as it is typed (a crash or os.exit()
   loses nothing) and trimmed to HISTORY_MAX lines on start and exit */

static void history_start(void) {
  const char *env = getenv("EMBER_HISTORY");
  const char *home = getenv("HOME");
  if (env && *env) snprintf(history_path, sizeof history_path, "%s", env);
  else if (home && *home) snprintf(history_path, sizeof history_path, "%s/.ember_history", home);
  else history_path[0] = '\0';
  using_history();
  stifle_history(HISTORY_MAX);
  if (!history_path[0]) return;
  int fd = open(history_path, O_WRONLY | O_CREAT | O_APPEND, 0600);   /* append_history needs the file */
  if (fd >= 0) close(fd);
  read_history(history_path);
  history_truncate_file(history_path, HISTORY_MAX);
}

static void history_add(const char *line) {
  if (!line[0] || strspn(line, " \t") == strlen(line)) return;
  HIST_ENTRY *last = history_length > 0 ? history_get(history_base + history_length - 1) : NULL;
  if (last && strcmp(last->line, line) == 0) return;
  add_history(line);
  if (history_path[0]) append_history(1, history_path);
}

static void history_end(void) {
  if (history_path[0]) history_truncate_file(history_path, HISTORY_MAX);
}

/* ---------------------------------------------------------------------------------------------
   calls into lua/ember/repl/ (the module ember.repl) */

/* pushes M.name (a function) and returns 1, or returns 0 when the module or the function is missing */
static int push_repl_fn(lua_State *L, const char *name) {
  if (repl_ref == LUA_NOREF) return 0;
  lua_rawgeti(L, LUA_REGISTRYINDEX, repl_ref);
  lua_getfield(L, -1, name);
  lua_remove(L, -2);
  if (lua_isfunction(L, -1)) return 1;
  lua_pop(L, 1);
  return 0;
}

/* prints the error on top (message and traceback) through M.format_error, and pops it */
static void report_error(lua_State *L) {
  if (push_repl_fn(L, "format_error")) {
    lua_pushvalue(L, -2);
    if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TSTRING) lua_replace(L, -2);
    else lua_pop(L, 1);
  }
  const char *msg = lua_tostring(L, -1);
  fprintf(stderr, "%s\n", msg ? msg : "(error object)");
  fflush(stderr);
  lua_pop(L, 1);
}

/* ember.X() from the ember table kept in package.loaded (the user may reassign the global); pushes
   its first result, or nil when it is missing or fails */
static void call_ember(lua_State *L, const char *fn) {
  int top = lua_gettop(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_getfield(L, -1, "ember");
  if (lua_istable(L, -1) && lua_getfield(L, -1, fn) == LUA_TFUNCTION && lua_pcall(L, 0, 1, 0) == LUA_OK) {
    lua_replace(L, top + 1);
    lua_settop(L, top + 1);
    return;
  }
  lua_settop(L, top);
  lua_pushnil(L);
}

/* host.source(name): the embedded source text of module name ("ember.nn"), for help() */
static int l_embedded_source(lua_State *L) {
  size_t len;
  const char *name = luaL_checklstring(L, 1, &len);
  const struct em_embedded *m = strlen(name) == len ? ember_embedded_find(name) : NULL;
  if (!m) return 0;
  lua_pushlstring(L, m->src, m->len);
  return 1;
}

/* ---------------------------------------------------------------------------------------------
   completion: M.complete(text before the cursor) returns the candidates and where (1-based) the
   word they replace starts; readline's own idea of the word start may differ (it breaks words at
   its own characters), so each candidate is re-based onto readline's start */

static char **matches;
static size_t nmatches, match_next;
static int completing_files;   /* the candidates are file names (the word is inside a string) */

static char *next_match(const char *text, int state) {
  (void)text;
  if (state == 0) match_next = 0;
  if (match_next < nmatches) {
    char *m = matches[match_next];
    matches[match_next++] = NULL;   /* readline frees what it gets */
    return m;
  }
  return NULL;
}

static void free_matches(void) {
  for (size_t i = 0; i < nmatches; i++) free(matches[i]);
  free(matches);
  matches = NULL;
  nmatches = match_next = 0;
}

/* the list shows what follows the last / of a file name, or the last . or : of a field or method */
static void display_matches(char **list, int n, int max_len) {
  (void)max_len;
  char **shown = calloc((size_t)n + 2, sizeof *shown);
  if (!shown) return;
  int width = 0;
  for (int i = 0; i <= n; i++) {
    const char *m = list[i], *tail = m;
    for (const char *p = m; *p; p++)
      if ((completing_files ? *p == '/' : (*p == '.' || *p == ':')) && p[1]) tail = p + 1;
    shown[i] = (char *)tail;
    int len = (int)strlen(tail);
    if (i > 0 && len > width) width = len;
  }
  rl_display_match_list(shown, n, width);
  rl_forced_update_display();
  free(shown);
}

static char **complete(const char *text, int start, int end) {
  lua_State *L = repl_L;
  rl_attempted_completion_over = 1;   /* no fall-back to readline's file names outside strings */
  rl_completion_append_character = '\0';
  free_matches();
  int top = lua_gettop(L);
  if (!push_repl_fn(L, "complete")) return NULL;
  lua_pushlstring(L, rl_line_buffer, (size_t)end);
  if (lua_pcall(L, 1, 3, 0) != LUA_OK || !lua_istable(L, -3)) { lua_settop(L, top); return NULL; }
  const char *kind = lua_tostring(L, -1);
  completing_files = kind && strcmp(kind, "file") == 0;
  lua_pop(L, 1);
  int tok = (int)lua_tointeger(L, -1) - 1;   /* 0-based start of the candidates' word */
  if (tok < 0 || tok > end) tok = end;
  lua_Integer n = luaL_len(L, -2);
  matches = calloc((size_t)n + 1, sizeof *matches);
  for (lua_Integer i = 1; matches && i <= n; i++) {
    lua_geti(L, -2, i);
    size_t len;
    const char *c = lua_tolstring(L, -1, &len);
    char *m = NULL;
    if (c && tok <= start) {
      size_t skip = (size_t)(start - tok);
      if (len >= skip && strncmp(c, rl_line_buffer + tok, skip) == 0) m = strdup(c + skip);
    } else if (c) {
      size_t pre = (size_t)(tok - start);
      m = malloc(pre + len + 1);
      if (m) { memcpy(m, rl_line_buffer + start, pre); memcpy(m + pre, c, len + 1); }
    }
    if (m) matches[nmatches++] = m;
    lua_pop(L, 1);
  }
  lua_settop(L, top);
  if (nmatches == 0) { free_matches(); return NULL; }
  /* a single file name (not a folder) closes its string, as shells close a quoted file name */
  char q = tok > 0 ? rl_line_buffer[tok - 1] : '\0';
  size_t len = strlen(matches[0]);
  if (completing_files && nmatches == 1 && (q == '"' || q == '\'') && len > 0 && matches[0][len - 1] != '/'
      && rl_line_buffer[end] != q) {
    char *m = realloc(matches[0], len + 2);
    if (m) { m[len] = q; m[len + 1] = '\0'; matches[0] = m; }
  }
  return rl_completion_matches(text, next_match);
}

/* ---------------------------------------------------------------------------------------------
   the loop, after lua.c: try `return LINE` so an expression prints, else read more lines while the
   syntax error is at <eof> */

/* pushes the global name without running the globals' __index: this C code is not under a pcall, so a
   raising __index (the user's, or any Lua code while a debug hook the user set raises) would abort the
   process ("PANIC: unprotected error") */
static void raw_global(lua_State *L, const char *name) {
  lua_pushglobaltable(L);
  lua_pushstring(L, name);
  lua_rawget(L, -2);
  lua_remove(L, -2);
}

/* the prompt: the global _PROMPT / _PROMPT2 when set (as in lua.c), else "> " / ">> " */
static const char *get_prompt(lua_State *L, int first) {
  static char buf[256];
  raw_global(L, first ? "_PROMPT" : "_PROMPT2");
  const char *p = lua_tostring(L, -1);
  snprintf(buf, sizeof buf, "%s", p ? p : (first ? PROMPT1 : PROMPT2));
  lua_pop(L, 1);
  return buf;
}

static int incomplete(lua_State *L, int status) {
  if (status != LUA_ERRSYNTAX) return 0;
  size_t len;
  const char *msg = lua_tolstring(L, -1, &len);
  size_t mk = sizeof EOFMARK - 1;
  return msg && len >= mk && strcmp(msg + len - mk, EOFMARK) == 0;
}

/* `?NAME` and `:COMMAND` lines become Lua code through M.translate; pushes the loaded chunk or an
   error message and returns the load status */
static int load_command(lua_State *L, const char *line) {
  if (!push_repl_fn(L, "translate")) {
    lua_pushstring(L, "commands need the ember.repl module, which failed to load");
    return LUA_ERRRUN;
  }
  lua_pushstring(L, line);
  if (ember_docall(L, 1, 2) != LUA_OK) return LUA_ERRRUN;
  if (lua_type(L, -2) != LUA_TSTRING) {
    if (!lua_isstring(L, -1)) { lua_pop(L, 1); lua_pushstring(L, "unknown command"); }
    lua_remove(L, -2);
    return LUA_ERRRUN;
  }
  lua_pop(L, 1);
  size_t len;
  const char *code = lua_tolstring(L, -1, &len);
  int status = luaL_loadbuffer(L, code, len, "=stdin");
  lua_remove(L, -2);
  return status;
}

/* reads one chunk and leaves it loaded on the stack. Returns READ_LINE with the status in *status,
   READ_INTERRUPTED when the input was abandoned (nothing pushed), or READ_EOF / READ_TERMINATED */
static int load_chunk(lua_State *L, int *status) {
  char *line;
  int r = read_line(get_prompt(L, 1), &line);
  if (r != READ_LINE) return r;
  history_add(line);
  if (line[strspn(line, " \t")] == '\0') { free(line); return READ_INTERRUPTED; }
  if (line[0] == '?' || line[0] == ':') {
    *status = load_command(L, line);
    free(line);
    return READ_LINE;
  }
  lua_pushfstring(L, "return %s", line);
  size_t len;
  const char *ret = lua_tolstring(L, -1, &len);
  *status = luaL_loadbuffer(L, ret, len, "=stdin");
  if (*status == LUA_OK) {
    lua_remove(L, -2);
    free(line);
    return READ_LINE;
  }
  lua_pop(L, 2);
  lua_pushstring(L, line);
  free(line);
  for (;;) {
    const char *src = lua_tolstring(L, -1, &len);
    *status = luaL_loadbuffer(L, src, len, "=stdin");
    if (!incomplete(L, *status)) break;
    char *more;
    r = read_line(get_prompt(L, 0), &more);
    if (r == READ_EOF) break;   /* report the incomplete chunk's syntax error, as lua.c does */
    lua_pop(L, 1);
    if (r != READ_LINE) { lua_pop(L, 1); return r; }
    history_add(more);
    lua_pushliteral(L, "\n");
    lua_pushstring(L, more);
    lua_concat(L, 3);   /* the source so far, a newline, the new line */
    free(more);
  }
  lua_remove(L, -2);
  return READ_LINE;
}

/* runs the chunk on top and prints what it returns; Ctrl-C interrupts it through sys.c's hook */
static void run_chunk(lua_State *L) {
  int base = lua_gettop(L) - 1;
  call_ember(L, "_reset_interrupts");
  lua_pop(L, 1);
  int rc = ember_docall(L, 0, LUA_MULTRET);
  if (rc == LUA_OK) {
    int n = lua_gettop(L) - base;
    if (n > 0) {
      if (push_repl_fn(L, "print")) lua_insert(L, base + 1);
      else { raw_global(L, "print"); lua_insert(L, base + 1); }
      rc = ember_docall(L, n, 0);
    }
  }
  call_ember(L, "_interrupts");
  int interrupted = lua_tointeger(L, -1) > 0;
  lua_pop(L, 1);
  if (rc != LUA_OK) {
    if (interrupted) fputs("\n", stderr);   /* the terminal echoed ^C where the cursor was */
    report_error(L);
  }
  /* a Ctrl-C that came as the chunk ended left the hook armed: disarm it, or the next chunk dies */
  if (interrupted) lua_sethook(L, NULL, 0, 0);
  lua_settop(L, base);
  fflush(stdout);
}

static void load_lua_side(lua_State *L) {
  lua_getglobal(L, "require");
  lua_pushstring(L, "ember.repl");
  if (ember_docall(L, 1, 1) != LUA_OK) {
    fputs("ember: the REPL helpers (ember.repl) failed to load; values print plainly\n", stderr);
    report_error(L);
    return;
  }
  repl_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  if (push_repl_fn(L, "init")) {
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, l_embedded_source);
    lua_setfield(L, -2, "source");
    if (ember_docall(L, 1, 0) != LUA_OK) report_error(L);
  }
}

int ember_repl(lua_State *L) {
  repl_L = L;
  rl_readline_name = "ember";
  rl_attempted_completion_function = complete;
  rl_completion_display_matches_hook = display_matches;
  /* words break where Lua tokens do, but not at . and : (fields and methods complete whole) */
  rl_basic_word_break_characters = " \t\n\"'`@$><=;|&{(,+-*/%^#~)}[]";
  rl_completer_word_break_characters = rl_basic_word_break_characters;
  /* readline would close the quote after any single match, folders included; complete() decides */
  rl_basic_quote_characters = NULL;
  rl_catch_signals = 0;   /* read_line handles SIGINT, SIGTERM and SIGWINCH itself */
  rl_catch_sigwinch = 0;
  history_start();
  load_lua_side(L);
  int exit_status = 0;
  for (;;) {
    int status = LUA_OK;
    int r = load_chunk(L, &status);
    if (r == READ_EOF) { fputs("\n", stdout); break; }
    if (r == READ_TERMINATED) { exit_status = 143; break; }
    if (r == READ_INTERRUPTED) continue;
    if (status == LUA_OK) run_chunk(L);
    else report_error(L);
  }
  fflush(stdout);
  history_end();
  free_matches();
  if (repl_ref != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, repl_ref);
  repl_ref = LUA_NOREF;
  return exit_status;
}
