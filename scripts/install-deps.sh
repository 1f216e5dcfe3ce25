#!/usr/bin/env bash
# Installs what building, running and testing Fanout needs, and only what is missing:
# Debian packages (redis-server, redis-tools, redis-sentinel, libhiredis-dev, pkg-config, haproxy,
# openssl, docker-compose; scripts/browser-test.sh installs chromium itself) and kosoku, the Python
# runner of the Autobahn cases (scripts/autobahn.sh). Safe to run again.
#
#   bash scripts/install-deps.sh            # everything the test suite needs
#   bash scripts/install-deps.sh --run      # only what `scripts/run.sh` needs
#   bash scripts/install-deps.sh --sentinel # what `scripts/run.sh --sentinel` needs
#   bash scripts/install-deps.sh --autobahn # what `scripts/run.sh` needs, and kosoku
#
# redis-sentinel: where systemd runs, Debian's package also starts its own sentinel service on
# port 26379 (watching 127.0.0.1:6379); Fanout's tests and scripts/run.sh --sentinel start
# theirs on other ports and never use it.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

profile=${1:-}
sudo=()
if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi

missing=()
need_deb() { # need_deb PACKAGE [COMMAND-OR-FILE]
    local package=$1 probe=${2:-}
    if [[ -n "$probe" && "$probe" == /* ]]; then [[ -e "$probe" ]] && return 0
    elif [[ -n "$probe" ]]; then command -v "$probe" >/dev/null 2>&1 && return 0
    else dpkg -s "$package" >/dev/null 2>&1 && return 0
    fi
    missing+=("$package")
}

need_deb redis-server redis-server
need_deb redis-tools redis-cli
need_deb libhiredis-dev /usr/include/hiredis/hiredis.h
need_deb pkg-config pkg-config
need_deb haproxy haproxy
need_deb curl curl  # readiness probes in scripts/run.sh and scripts/autobahn.sh
if [[ -z "$profile" || "$profile" == "--sentinel" ]]; then
    need_deb redis-sentinel redis-sentinel  # the Sentinel failover tests; scripts/run.sh --sentinel
fi
if [[ -z "$profile" ]]; then
    need_deb docker-compose docker-compose
    need_deb openssl openssl  # the RS256 test makes its RSA key with `openssl genpkey`
fi
if [[ "$profile" != "--run" ]] && ! python3 -m pip --version >/dev/null 2>&1; then
    need_deb python3-pip
fi

if ((${#missing[@]} > 0)); then
    echo "install-deps: installing ${missing[*]}"
    "${sudo[@]}" apt-get update -q
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [[ "$profile" != "--run" ]] && ! python3 -c 'import kosoku' >/dev/null 2>&1; then
    echo "install-deps: installing kosoku (PyPI)"
    # A Debian python3 refuses system-wide installs (PEP 668); a user install is what it allows.
    python3 -m pip install --quiet 'kosoku==0.1.0' 2>/dev/null \
        || python3 -m pip install --quiet --user --break-system-packages 'kosoku==0.1.0'
    python3 -c 'import kosoku' >/dev/null || { echo "install-deps: kosoku did not install" >&2; exit 1; }
fi

if ! command -v swift >/dev/null 2>&1; then
    echo "install-deps: swift is not on PATH (this project needs Swift 6.2 or newer)" >&2
    exit 1
fi
