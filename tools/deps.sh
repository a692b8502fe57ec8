#!/bin/sh
# deps.sh - installs the Debian packages ember needs when they are missing (as root, or with sudo when
# it needs no password); otherwise prints the exact apt-get line and fails.
PKGS="gcc make pkg-config liblua5.4-dev lua5.4 lua-filesystem gnuplot-nox libopenblas-dev zlib1g-dev
libreadline-dev dataset-fashion-mnist lua-busted tmux"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "ember: installing missing packages:$missing"
if [ "$(id -u)" = 0 ]; then SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"
else
  echo "ember: cannot install as $(id -un); run:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends$missing" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || exit 1
$SUDO apt-get install -y -qq --no-install-recommends $missing || exit 1
