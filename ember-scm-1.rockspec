-- ember-scm-1.rockspec - `luarocks make` builds ember.so, the ember module for plain lua5.4, with the
-- repository's Makefile (the Lua modules are embedded in it, as in `make`). From a clone:
--   luarocks make --lua-version 5.4 --deps-mode none   (lua-filesystem from Debian's lua-filesystem)
package = "ember"
version = "scm-1"
source = {
  url = "git+file://.",
}
description = {
  summary = "Small, fast neural-network training with autograd, in Lua",
  detailed = [[
A C core (float32 tensors with reverse-mode autograd, layers, losses, optimizers, data loaders) bound
into Lua 5.4: experiments, schedules and early stopping are Lua scripts; runs are logged to plain-text
run directories. This rock installs the module (require "ember"); `make install` also installs the
`ember` program.]],
}
dependencies = {
  "lua >= 5.4, < 5.5",
  "luafilesystem",
}
external_dependencies = {
  ZLIB = {header = "zlib.h", library = "z"},
}
build = {
  type = "make",
  build_target = "module",
  build_variables = {
    CC = "$(CC)",
    CFLAGS = "$(CFLAGS) -O3 -g",   -- luarocks gives -O2 -fPIC; ember is built at -O3 as by make
    LUA = "$(LUA)",
    LUA_INCDIR = "$(LUA_INCDIR)",
  },
  install_target = "install-module",
  install_variables = {
    LIBDIR = "$(LIBDIR)",
  },
}
