# ember - build, test, install.  `make run` and `make test` are the two set-up commands (README.md).
#
# Sources are found by wildcard, so a new core/*.c, lua/bind/*.c, lua/ember/**/*.lua, tests/c/test_*.c or
# tests/lua/*_spec.lua is built and tested without editing this file.

CC       ?= cc
OPT      ?= -O3
CFLAGS   ?= $(OPT) -g
# LUA_INCDIR: Lua's headers (luarocks passes it); default from pkg-config
LUA_INCDIR ?=
LUA_CFLAGS := $(if $(LUA_INCDIR),-I$(LUA_INCDIR),$(shell pkg-config --cflags lua5.4 2>/dev/null || echo -I/usr/include/lua5.4))
EM_CFLAGS = -std=c99 -Wall -Wextra -fPIC -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L -fno-math-errno \
            -Icore $(LUA_CFLAGS)
LUA_LIBS := $(shell pkg-config --libs lua5.4 2>/dev/null || echo -llua5.4)
# OpenBLAS is dlopen'ed at run time (core/blas.c) so that ember can pick its kernel before it loads.
CORE_LIBS = -lz -ldl -lm -lpthread
PREFIX   ?= /usr/local
DOCDIR   ?= $(PREFIX)/share/doc/ember
LUA      ?= lua5.4

CORE_SRC  := $(wildcard core/*.c)
BIND_SRC  := $(wildcard lua/bind/*.c)
LUA_MODS  := $(shell find lua/ember -name '*.lua' | LC_ALL=C sort)
CORE_HDR  := $(wildcard core/*.h)
BIND_HDR  := $(wildcard lua/bind/*.h)

B ?= build
# the C test executables of build folder $(B), so `make B=DIR test-c` builds and runs DIR's
C_TESTS  := $(patsubst tests/c/%.c,$(B)/tests/%,$(wildcard tests/c/test_*.c))
CORE_OBJ := $(patsubst core/%.c,$(B)/core/%.o,$(CORE_SRC))
BIND_OBJ := $(patsubst lua/bind/%.c,$(B)/bind/%.o,$(BIND_SRC))

.PHONY: all module deps run test test-c test-lua test-asan bench install install-module clean fuzz figures docs
all: $(B)/ember $(B)/ember.so

$(B)/core/%.o: core/%.c $(CORE_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(EM_CFLAGS) -c $< -o $@

$(B)/bind/%.o: lua/bind/%.c $(CORE_HDR) $(BIND_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(EM_CFLAGS) -Ilua/bind -c $< -o $@

$(B)/libembercore.a: $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

# the Lua modules, embedded as C strings so an installed ember runs from any directory
$(B)/embedded.c: $(LUA_MODS) tools/embed.lua
	@mkdir -p $(B)
	$(LUA) tools/embed.lua $@ $(LUA_MODS)

$(B)/embedded.o: $(B)/embedded.c lua/bind/embedded.h
	$(CC) $(CFLAGS) $(EM_CFLAGS) -Ilua/bind -c $< -o $@

$(B)/ember.so: $(BIND_OBJ) $(B)/embedded.o $(B)/libembercore.a
	$(CC) $(CFLAGS) -shared -o $@ $(BIND_OBJ) $(B)/embedded.o $(B)/libembercore.a $(CORE_LIBS)

MAIN_SRC := lua/main.c lua/repl.c

$(B)/ember: $(MAIN_SRC) lua/repl.h $(BIND_OBJ) $(B)/embedded.o $(B)/libembercore.a $(BIND_HDR)
	$(CC) $(CFLAGS) $(EM_CFLAGS) -Ilua/bind -Ilua -o $@ $(MAIN_SRC) $(BIND_OBJ) $(B)/embedded.o \
	  $(B)/libembercore.a $(LUA_LIBS) -lreadline $(CORE_LIBS) -Wl,-E

$(B)/tests/%: tests/c/%.c tests/c/check.h $(B)/libembercore.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(EM_CFLAGS) -o $@ $< $(B)/libembercore.a $(CORE_LIBS)

# Installs the Debian packages ember needs when they are missing (as root or with sudo);
# otherwise prints the apt-get line to run.
deps:
	@sh tools/deps.sh

test: deps all $(C_TESTS)
	@sh tests/run.sh $(B)

test-c: $(C_TESTS)
	@sh tests/run.sh $(B) c

test-lua: all
	@sh tests/run.sh $(B) lua

# the C and Lua tests under AddressSanitizer + UBSan, in a separate build folder
test-asan:
	$(MAKE) B=build-asan OPT="-O1" \
	  CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  all $(patsubst $(B)/%,build-asan/%,$(C_TESTS))
	ASAN_OPTIONS=detect_leaks=1 EMBER_ASAN=1 sh tests/run.sh build-asan

run: deps all
	@sh tools/make-run.sh $(B)

bench: all
	@sh bench/run.sh $(B)

# reruns the experiments and regenerates the README's figures in docs/figures/ (FIGURES_QUICK=1 skips
# the Fashion-MNIST LeNet)
figures: all
	@sh tools/make-figures.sh $(B)

fuzz:
	@sh tests/fuzz/run.sh

# the program, the module for plain lua5.4, and the manual (README.md and docs/, whose links stay valid)
# the command reference in docs/cli.md and the man page docs/ember.1, from the commands' declarations
docs: all
	$(B)/ember tools/gen-cli-docs.lua

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/lua/5.4 $(DESTDIR)$(DOCDIR)/docs/figures \
	  $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 644 docs/ember.1 $(DESTDIR)$(PREFIX)/share/man/man1/ember.1
	install -m 755 $(B)/ember $(DESTDIR)$(PREFIX)/bin/ember
	install -m 644 $(B)/ember.so $(DESTDIR)$(PREFIX)/lib/lua/5.4/ember.so
	install -m 644 README.md $(DESTDIR)$(DOCDIR)/README.md
	install -m 644 docs/*.md $(DESTDIR)$(DOCDIR)/docs/
	install -m 644 docs/figures/*.png $(DESTDIR)$(DOCDIR)/docs/figures/

# the module alone, for luarocks (ember-scm-1.rockspec): `luarocks make` runs these two targets
module: $(B)/ember.so

install-module: $(B)/ember.so
	@test -n "$(LIBDIR)" || { echo "install-module: give LIBDIR, the folder for ember.so"; exit 2; }
	install -d $(DESTDIR)$(LIBDIR)
	install -m 644 $(B)/ember.so $(DESTDIR)$(LIBDIR)/ember.so

clean:
	rm -rf build build-asan build-fuzz
