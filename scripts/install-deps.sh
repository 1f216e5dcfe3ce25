#!/usr/bin/env bash
# Installs what building, running and testing Fanout needs, and only what is missing:
# Debian packages (redis-server, libhiredis-dev, pkg-config, haproxy, docker-compose, chromium)
# and the Python packages the conformance and browser tests use. Safe to run again.
#
#   bash scripts/install-deps.sh            # everything the test suite needs
#   bash scripts/install-deps.sh --run      # only what `scripts/run.sh` needs
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
if [[ "$profile" != "--run" ]]; then
    need_deb docker-compose docker-compose
fi

if ((${#missing[@]} > 0)); then
    echo "install-deps: installing ${missing[*]}"
    "${sudo[@]}" apt-get update -q
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v swift >/dev/null 2>&1; then
    echo "install-deps: swift is not on PATH (this project needs Swift 6.2 or newer)" >&2
    exit 1
fi
