#!/usr/bin/env bash
# Installs what QENEX OS needs on a Debian machine, from the registries only:
#   1. Debian packages from tools/deps/apt-packages.txt that are missing;
#   2. the source packages pinned in tools/deps/*.lock (MicroPython, mbedtls,
#      OpenSSL's SHA-256 for ARM, lwIP, Expat),
#      fetched with `apt-get source`, checked against their SHA-256, unpacked
#      in build/deps/ (MicroPython skipped when MICROPYTHON_SRC names a tree);
#   3. the host Python virtualenv build/venv from requirements.txt;
#   4. QuickFIX's wheel, built once from its sdist (build/wheels).
# Every step is skipped when already done, so `make` stays quick.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DEPS=$ROOT/build/deps
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
say() { echo "deps: $*"; }

# 1. Debian packages -----------------------------------------------------------
missing=()
for p in $(grep -v '^#' "$ROOT/tools/deps/apt-packages.txt"); do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -q
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# 2. Source packages ----------------------------------------------------------
# fetch_source LOCK: the source package pinned in tools/deps/LOCK, fetched with
# `apt-get source` from a deb-src entry for its suite on the Debian mirror this
# machine already uses (the URI is read from its apt sources, never written
# here), checked against its SHA-256 and unpacked in build/deps/TREE.
fetch_source() {
    unset MEMBERS          # set only by the locks that name one (openssl.lock)
    # shellcheck disable=SC1090
    . "$ROOT/tools/deps/$1"
    [ -f "$DEPS/$TREE/.qenex-verified" ] && return 0
    mkdir -p "$DEPS/dl"
    uri=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(ORIGIN)' 2>/dev/null |
          awk '$3 == "Debian" && $2 !~ /security/ {print $1; exit}')
    if [ -z "$uri" ]; then
        uri=$(grep -rhoE '^(deb|URIs:)[[:space:]]+[^[:space:]]+/debian/?([[:space:]]|$)' \
              /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null |
              awk '{print $2; exit}')
    fi
    [ -n "$uri" ] || { say "error: no Debian mirror found in the apt sources"; exit 1; }
    list=$DEPS/qenex-src-$SUITE.sources
    printf 'Types: deb-src\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "${uri%/}/" "$SUITE" > "$list"
    # apt state for these sources lives under build/deps/apt: the machine's
    # own package lists are not touched.
    aptdir=$DEPS/apt
    mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial"
    aptopts=(-o "Dir::Etc::SourceList=$list" -o "Dir::Etc::SourceParts=-"
             -o "Dir::State::Lists=$aptdir/lists" -o "Dir::Cache=$aptdir/cache"
             -o "APT::Sandbox::User=root" -q)
    say "fetching $PACKAGE=$VERSION source from $SUITE"
    apt-get "${aptopts[@]}" update >/dev/null
    (cd "$DEPS/dl" && apt-get "${aptopts[@]}" source --download-only "$PACKAGE=$VERSION" >/dev/null)
    echo "$SHA256  $DEPS/dl/$ORIG" | sha256sum -c --quiet - ||
        { say "error: $ORIG does not match the pinned SHA-256"; exit 1; }
    say "$ORIG sha256 ok"
    rm -rf "${DEPS:?}/$TREE"
    # MEMBERS (optional, paths under TREE): unpack only those files.
    # shellcheck disable=SC2086
    tar -C "$DEPS" -xf "$DEPS/dl/$ORIG" ${MEMBERS:+$(printf "$TREE/%s " $MEMBERS)}
    touch "$DEPS/$TREE/.qenex-verified"
}

if [ -n "${MICROPYTHON_SRC:-}" ]; then
    say "using MICROPYTHON_SRC=$MICROPYTHON_SRC"
    [ -f "$MICROPYTHON_SRC/py/mpconfig.h" ] || { say "error: $MICROPYTHON_SRC is not a MicroPython tree"; exit 1; }
else
    fetch_source micropython.lock
fi
fetch_source mbedtls.lock
fetch_source openssl.lock
fetch_source lwip.lock
fetch_source expat.lock

# 3. Host Python ---------------------------------------------------------------
VENV=$ROOT/build/venv
# The mark of what was installed is per checkout (build/.qenex-req), since
# build/venv may be a link to a venv other worktrees share; the venv is
# made only when there is none, and pip adds what requirements.txt adds.
REQ_MARK=$ROOT/build/.qenex-req
if [ ! -f "$REQ_MARK" ] || ! cmp -s "$ROOT/requirements.txt" "$REQ_MARK"; then
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating the host virtualenv build/venv"
        python3 -m venv "$VENV"
    fi
    say "installing requirements.txt into build/venv"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/requirements.txt"
    cp "$ROOT/requirements.txt" "$REQ_MARK"
fi

# 4. QuickFIX, the FIX engine the tests use as the counterparty ---------------
# PyPI has only its sdist (a C++ engine and its SWIG wrapper: about 7 minutes
# of CPU on two cores): the wheel is built once into build/wheels and later
# installs take it from there.
# The sdist is kept too: its spec/FIX44.xml is the data dictionary QuickFIX
# checks the board's messages against (build/quickfix/FIX44.xml).
QUICKFIX=quickfix==1.16.0
WHEELS=$ROOT/build/wheels
SDIST=$WHEELS/quickfix-1.16.0.tar.gz
if [ ! -f "$SDIST" ]; then
    "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps --no-binary :all: -d "$WHEELS" "$QUICKFIX"
fi
if ! "$VENV/bin/python" -c "import quickfix" 2>/dev/null; then
    if ! ls "$WHEELS"/quickfix-1.16.0-*.whl >/dev/null 2>&1; then
        say "building $QUICKFIX from its sdist into build/wheels (once; about 7 minutes)"
        "$VENV/bin/pip" wheel -q --disable-pip-version-check --no-deps -w "$WHEELS" "$SDIST"
    fi
    "$VENV/bin/pip" install -q --disable-pip-version-check --no-index --find-links "$WHEELS" "$QUICKFIX"
fi
if [ ! -f "$ROOT/build/quickfix/FIX44.xml" ]; then
    mkdir -p "$ROOT/build/quickfix"
    tar -xzf "$SDIST" -C "$ROOT/build/quickfix" --strip-components=2 quickfix-1.16.0/spec/FIX44.xml
fi
