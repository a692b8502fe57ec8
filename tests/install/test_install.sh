#!/bin/sh
# test_install.sh [BUILD_DIR] - what a user installs works outside the source tree: `make install` into a
# scratch DESTDIR (the program runs its embedded modules from any folder, ember.so loads in plain lua5.4,
# the manual is there with its figures), and `luarocks make` of ember-scm-1.rockspec in a fresh copy of
# the repository builds an ember.so that plain lua5.4 loads (skipped without luarocks).
# Prints "N passed, N failed"; exits non-zero on failure.
B=${1:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
case $B in /*) ;; *) B=$ROOT/$B ;; esac
pass=0
fail=0

ok() { pass=$((pass + 1)); echo "ok - $1"; }
not_ok() { fail=$((fail + 1)); echo "not ok - $1"; }
check() { if [ "$1" = 0 ]; then ok "$2"; else not_ok "$2"; fi; }   # check STATUS DESCRIPTION
finish() { echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit $?; }

if [ ! -x "$B/ember" ] || [ ! -f "$B/ember.so" ]; then not_ok "no build in $B (run make)"; finish; fi

W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
trap 'exit 1' INT TERM
unset EMBER_PATH   # an installed ember uses its embedded modules

# --- make install -------------------------------------------------------------------------------------
make -s -C "$ROOT" install B="$B" DESTDIR="$W/dest" PREFIX=/usr >"$W/install.log" 2>&1
check $? "make install into a DESTDIR"
for f in bin/ember lib/lua/5.4/ember.so share/doc/ember/README.md share/doc/ember/docs/api.md \
         share/doc/ember/docs/cli.md share/doc/ember/docs/figures/optimizers.png; do
  [ -f "$W/dest/usr/$f" ]; check $? "make install installs $f"
done

mkdir "$W/elsewhere" && cd "$W/elsewhere" || exit 1
out=$("$W/dest/usr/bin/ember" -e 'print(ember.nn.Linear(2, 1), ember.zeros(2))' 2>&1)
case $out in
  *"Linear(2 -> 1)"*"tensor([0, 0], shape [2])"*) ok "the installed ember runs its embedded modules from any folder" ;;
  *) not_ok "the installed ember runs its embedded modules from any folder: $out" ;;
esac

if [ -n "$EMBER_ASAN" ]; then
  echo "# skip: plain lua5.4 cannot load an AddressSanitizer build of ember.so"
  finish
fi
lua_load() {   # lua_load DIR: plain lua5.4 loads DIR/ember.so and runs the module's Lua side
  lua5.4 -e "package.cpath = '$1/?.so;' .. package.cpath
    local ember = require 'ember'
    print(ember.zeros(2), ember.nn.Linear(2, 1), ember.version)" 2>&1
}
version=$("$B/ember" -e 'io.write(ember.version)')
out=$(lua_load "$W/dest/usr/lib/lua/5.4")
case $out in
  *"tensor([0, 0], shape [2])"*"Linear(2 -> 1)"*"$version"*) ok "plain lua5.4 loads the installed ember.so" ;;
  *) not_ok "plain lua5.4 loads the installed ember.so: $out" ;;
esac

# --- luarocks make --------------------------------------------------------------------------------------
if ! command -v luarocks >/dev/null 2>&1; then
  echo "# skip: luarocks is not installed (apt-get install luarocks), so the rockspec is not built"
  finish
fi
mkdir "$W/src"
if git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
  # the files a clone has (and new ones not yet committed), not the build folders
  (cd "$ROOT" && git ls-files --cached --others --exclude-standard | tar -cf - -T -) | tar -xf - -C "$W/src"
else
  (cd "$ROOT" && tar -cf - --exclude=./build --exclude=./build-asan --exclude=./build-fuzz .) | tar -xf - -C "$W/src"
fi
(cd "$W/src" && MAKEFLAGS=-j2 luarocks make --tree "$W/tree" --lua-version 5.4 --deps-mode none \
  ember-scm-1.rockspec) >"$W/rock.log" 2>&1
rc=$?
check $rc "luarocks make builds and installs the rock"
[ $rc = 0 ] || tail -n 20 "$W/rock.log"
out=$(lua_load "$W/tree/lib/lua/5.4")
case $out in
  *"tensor([0, 0], shape [2])"*"Linear(2 -> 1)"*"$version"*) ok "plain lua5.4 loads the rock's ember.so" ;;
  *) not_ok "plain lua5.4 loads the rock's ember.so: $out" ;;
esac
finish
