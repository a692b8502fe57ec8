/* embedded.h - the Lua modules compiled into ember (build/embedded.c, written by tools/embed.lua).
   lua/ember/a/b.lua is module "ember.a.b" and lua/ember/a/init.lua is "ember.a", as Lua's own
   package.path templates "?.lua;?/init.lua" would find them. */
#ifndef EMBER_EMBEDDED_H
#define EMBER_EMBEDDED_H
#include <stddef.h>

struct em_embedded {
  const char *name;   /* module name, "ember.fit.loop" */
  const char *path;   /* its file below lua/, "ember/fit/loop.lua" (EMBER_PATH overrides it) */
  const char *src;
  size_t len;
};
extern const struct em_embedded em_embedded[];   /* ends with a NULL name */

/* the module called name, or NULL */
const struct em_embedded *ember_embedded_find(const char *name);
#endif
