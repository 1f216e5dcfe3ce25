# shellcheck shell=bash disable=SC2034  # DOCKER_ENGINE_* are read by the scripts that source this
# Sourced by scripts/compose-images.sh and scripts/compose-test.sh: a Docker engine to talk to.
#
#   docker_engine_ensure   installs Debian's docker.io / docker-compose when missing and starts
#                          dockerd when none answers; sets DOCKER_ENGINE_STARTED=1 if it started one.
#                          Returns 1 (with the reason in DOCKER_ENGINE_PROBLEM) when no engine can run.
#   docker_engine_release  stops the dockerd that docker_engine_ensure started, and nothing else.
#
# dockerd runs with --storage-driver=vfs by default (FANOUT_DOCKER_STORAGE_DRIVER overrides it):
# vfs works on every file system, including inside sandboxes where overlayfs is not allowed; it
# costs a full copy of the image per container. Its data root is Docker's usual /var/lib/docker,
# so built images survive between runs (compose-images.sh reuses them).

DOCKER_ENGINE_STARTED=0
DOCKER_ENGINE_PID=
DOCKER_ENGINE_PROBLEM=
DOCKER_ENGINE_LOG=${DOCKER_ENGINE_LOG:-${TMPDIR:-/tmp}/fanout-dockerd.log}

docker_engine_apt_install() {
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
    echo "docker-engine: installing $*"
    "${sudo[@]}" apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "$@" >/dev/null
}

docker_engine_ensure() {
    export PATH="$PATH:/usr/sbin:/sbin"
    local missing=()
    command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
    # docker.io brings the client; a client found elsewhere on PATH (another build of the CLI)
    # talks to Debian's dockerd too, negotiating the API version down.
    command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
    if ((${#missing[@]} > 0)); then docker_engine_apt_install "${missing[@]}"; fi

    if docker info >/dev/null 2>&1; then
        echo "docker-engine: using the Docker engine that is already running"
        return 0
    fi
    if [[ $(id -u) -ne 0 ]]; then
        DOCKER_ENGINE_PROBLEM="no Docker engine answers and dockerd needs root, but this is uid $(id -u)"
        return 1
    fi
    if [[ -S /var/run/docker.sock ]] && ! pgrep -x dockerd >/dev/null 2>&1; then
        rm -f /var/run/docker.sock  # left by a dockerd that died; dockerd refuses to start beside it
    fi
    local driver=${FANOUT_DOCKER_STORAGE_DRIVER:-vfs}
    echo "docker-engine: starting dockerd (--storage-driver=$driver, log: $DOCKER_ENGINE_LOG)"
    dockerd --storage-driver="$driver" >"$DOCKER_ENGINE_LOG" 2>&1 &
    DOCKER_ENGINE_PID=$!
    DOCKER_ENGINE_STARTED=1
    local deadline=$((SECONDS + 60))
    until docker info >/dev/null 2>&1; do
        if ! kill -0 "$DOCKER_ENGINE_PID" 2>/dev/null; then
            DOCKER_ENGINE_STARTED=0
            DOCKER_ENGINE_PROBLEM="dockerd exited at start: $(grep -iE 'level=(fatal|error)|denied|not permitted' "$DOCKER_ENGINE_LOG" | tail -3)"
            return 1
        fi
        if ((SECONDS > deadline)); then
            DOCKER_ENGINE_PROBLEM="dockerd did not answer within 60 s (log: $DOCKER_ENGINE_LOG)"
            docker_engine_release
            return 1
        fi
        sleep 0.2  # dockerd gives no readiness signal but its socket answering
    done
}

docker_engine_release() {
    if [[ $DOCKER_ENGINE_STARTED != 1 || -z $DOCKER_ENGINE_PID ]]; then return 0; fi
    echo "docker-engine: stopping the dockerd this run started (pid $DOCKER_ENGINE_PID)"
    kill -TERM "$DOCKER_ENGINE_PID" 2>/dev/null || true
    local deadline=$((SECONDS + 30))
    while kill -0 "$DOCKER_ENGINE_PID" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    if kill -0 "$DOCKER_ENGINE_PID" 2>/dev/null; then
        echo "docker-engine: dockerd did not stop within 30 s; killing it" >&2
        kill -KILL "$DOCKER_ENGINE_PID" 2>/dev/null || true
    fi
    wait "$DOCKER_ENGINE_PID" 2>/dev/null || true
    DOCKER_ENGINE_STARTED=0
}
