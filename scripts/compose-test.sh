#!/usr/bin/env bash
# Runs docker-compose.yml for real and checks the stack from outside, through the ports it
# publishes on 127.0.0.1 only. Part of scripts/test.sh (and so of CI).
#
#   bash scripts/compose-test.sh
#
# 1. A Docker engine: Debian's docker.io and docker-compose are installed when missing, and a
#    dockerd is started when none answers (scripts/lib/docker-engine.sh); only a dockerd started
#    here is stopped again. Without one (no root), it says so and fails under CI=true.
# 2. The images: scripts/compose-images.sh (stand-ins where no registry can be reached; a service
#    whose image cannot be had at all, grafana here, is left out).
# 3. The unchanged docker-compose.yml under a project name of its own, with a self-signed
#    certificate for the TLS port (FANOUT_TLS_CERT), then:
#    - echo through HAProxy on ws://127.0.0.1:8080 reaching both edges, and on wss://127.0.0.1:8443;
#    - a backlog (the `delay` handler, FANOUT_HANDLER=delay) drained by one worker, then by three
#      (`up -d --scale worker=3 --scale edge=3`): three consumers in XINFO CONSUMERS, every message
#      answered, three drain it faster than one;
#    - Prometheus (127.0.0.1:9091/api/v1/targets) has every edge and worker up;
#    - one worker container killed (SIGKILL) under load: every message still answered;
#    - one edge container stopped (SIGTERM): its clients get close 1001, the others stay served,
#      new clients go to the other edges;
#    - queue depth from `docker-compose exec redis redis-cli XINFO GROUPS fanout:inbound`.
# 4. Everything it started is removed (`docker-compose down -v`), also when a check fails.
#
# Every wait is bounded; no check depends on how fast this machine is, except the drain
# comparison, which compares two runs on the same machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib/docker-engine.sh
source scripts/lib/docker-engine.sh

started=$SECONDS
PY=/usr/bin/python3             # Debian's, where python3-websockets installs
DELAY_MS=200                    # the delay handler's wait per message in the backlog checks
PUBLISHED_PORTS=(8080 8443 8404 9091)

say() { echo "compose-test: $*"; }
step() { echo "== compose-test: $* ($((SECONDS - started)) s)"; }

# Under CI a missing engine is a failure; elsewhere (a developer without root) it is reported
# and skipped, never silently passed.
cannot_run() {
    if [[ ${CI:-} == true ]]; then
        say "FAIL: $1"
        exit 1
    fi
    say "SKIPPED (CI is not set): $1"
    exit 0
}

# ------------------------------------------------------------- tools ---
missing=()
"$PY" -c 'import websockets' >/dev/null 2>&1 || missing+=(python3-websockets)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if ((${#missing[@]} > 0)); then docker_engine_apt_install "${missing[@]}"; fi

project="fanouttest$$$RANDOM"
export COMPOSE_PROJECT_NAME=$project COMPOSE_FILE=$PWD/docker-compose.yml
# docker-compose 1.29's HTTP client waits 60 s by default; creating containers on vfs can take longer.
export COMPOSE_HTTP_TIMEOUT=300
work=$(mktemp -d)
stack_up=0

cleanup() {
    local status=$?
    if [[ $stack_up == 1 ]]; then
        if ((status != 0)); then
            say "logs of the stack (last 40 lines per service):"
            docker-compose logs --no-color --tail 40 2>&1 | sed 's/^/    /' || true
        fi
        step "docker-compose down -v"
        docker-compose down -v --remove-orphans --timeout 10 >/dev/null 2>&1 || say "down -v failed"
    fi
    rm -rf "$work"
    docker_engine_release
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "Docker engine"
docker_engine_ensure || cannot_run "no Docker engine: $DOCKER_ENGINE_PROBLEM"

for port in "${PUBLISHED_PORTS[@]}"; do
    if "$PY" -c 'import socket, sys; s = socket.socket(); sys.exit(s.connect_ex(("127.0.0.1", int(sys.argv[1]))) != 0)' "$port"; then
        say "FAIL: port $port on 127.0.0.1 is taken; the stack publishes it (stop what listens there)"
        exit 1
    fi
done

step "images (scripts/compose-images.sh)"
bash scripts/compose-images.sh | tee "$work/images.log"

# Every service whose image is here; the others (grafana) are named and left out.
services=()
while read -r service image; do
    if docker image inspect "$image" >/dev/null 2>&1; then
        services+=("$service")
    else
        say "leaving out service $service: image $image is not available"
    fi
done < <(docker-compose config | "$PY" -c '
import sys, yaml
for name, svc in yaml.safe_load(sys.stdin)["services"].items():
    print(name, svc["image"])')

# Self-signed certificate for HAProxy's TLS port, readable by the image's haproxy user.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$work/key.pem" -out "$work/cert.pem" >/dev/null 2>&1
cat "$work/cert.pem" "$work/key.pem" >"$work/fanout.pem"
chmod 0644 "$work/fanout.pem"
export FANOUT_TLS_CERT=$work/fanout.pem

client() { "$PY" scripts/compose-client.py "$@" | sed 's/^/    /'; return "${PIPESTATUS[0]}"; }
redis_cli() { docker-compose exec -T redis redis-cli "$@"; }

# wait_until DESCRIPTION SECONDS COMMAND...: polls COMMAND until it succeeds, at most SECONDS.
wait_until() {
    local description=$1 limit=$2
    shift 2
    local deadline=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            say "FAIL: not within $limit s: $description"
            return 1
        fi
        sleep 0.5
    done
}

edges_up() { # edges_up N: HAProxy has exactly N edge servers UP
    [[ $(curl -fsS 'http://127.0.0.1:8404/;csv' | awk -F, '$1=="edges" && $2 ~ /^edge/ && $18=="UP"' | wc -l) == "$1" ]]
}
consumer_names() { redis_cli XINFO CONSUMERS fanout:inbound workers | awk 'prev=="name"{print} {prev=$0}'; }
consumers_are() { # consumers_are N [EXCLUDED-NAME...]: exactly N consumers, none of them excluded
    local want=$1 names
    shift
    names=$(consumer_names) || return 1
    [[ $(grep -c . <<<"$names") == "$want" ]] || return 1
    local name
    for name in "$@"; do ! grep -qxF "$name" <<<"$names" || return 1; done
}
# A worker joins the group's consumer list with its first entry, not when it starts: some echo
# traffic, then the list.
workers_listed() { # workers_listed N [EXCLUDED-NAME...]
    "$PY" scripts/compose-client.py echo --url ws://127.0.0.1:8080/ws --clients 3 --messages 2 --tag w >/dev/null || return 1
    consumers_are "$@"
}
queue_settled() { # lag 0 and nothing pending
    local info
    info=$(redis_cli XINFO GROUPS fanout:inbound | tr '\n' ' ')
    [[ $info =~ pending\ 0\  && $info =~ lag\ 0\  ]] || [[ $info =~ pending\ 0\  && $info =~ lag\ 0$ ]]
}
show() { say "$1:"; shift; "$@" 2>&1 | sed 's/^/    /'; }

# ------------------------------------------------------------ the stack ---
step "docker-compose up -d ${services[*]} (project $project)"
stack_up=1
docker-compose up -d "${services[@]}" 2>&1 | sed 's/^/    /'
wait_until "HAProxy sees 2 edges UP" 180 edges_up 2
wait_until "1 worker in the consumer group" 120 workers_listed 1

step "echo through HAProxy: ws://127.0.0.1:8080 and wss://127.0.0.1:8443"
client echo --url ws://127.0.0.1:8080/ws --clients 4 --messages 5 --edges 2
client echo --url wss://127.0.0.1:8443/ws --cafile "$work/cert.pem" --clients 2 --messages 5 --edges 2 --tag t

step "a backlog drained by one worker (FANOUT_HANDLER=delay, FANOUT_DELAY_MS=$DELAY_MS)"
old_consumers=$(consumer_names)
export FANOUT_HANDLER=delay FANOUT_DELAY_MS=$DELAY_MS
# The workers' environment changed: compose recreates them (SIGTERM, then a new container).
docker-compose up -d --scale worker=1 "${services[@]}" 2>&1 | sed 's/^/    /'
# shellcheck disable=SC2086  # one name per word
wait_until "the new worker alone in the group" 120 workers_listed 1 $old_consumers
client flood --url ws://127.0.0.1:8080/ws --clients 16 --messages 40 --json-out "$work/one.json"

step "docker-compose up -d --scale worker=3 --scale edge=3"
docker-compose up -d --scale worker=3 --scale edge=3 "${services[@]}" 2>&1 | sed 's/^/    /'
wait_until "HAProxy sees 3 edges UP" 120 edges_up 3
wait_until "3 consumers in the group" 120 workers_listed 3
show "XINFO CONSUMERS fanout:inbound workers (name, pending, idle)" \
    bash -c "docker-compose exec -T redis redis-cli XINFO CONSUMERS fanout:inbound workers | paste - - - - - - | cut -f2,4,6"
show "fanout stats (run in a worker container)" docker-compose exec -T worker fanout stats

step "the same backlog drained by three workers"
client flood --url ws://127.0.0.1:8080/ws --clients 16 --messages 40 --json-out "$work/three.json"
"$PY" - "$work/one.json" "$work/three.json" <<'EOF'
import json, sys
one, three = (json.load(open(path)) for path in sys.argv[1:])
print(f"    drain: 1 worker {one['seconds']:.2f} s, 3 workers {three['seconds']:.2f} s "
      f"({one['seconds'] / three['seconds']:.1f}x), {one['answered']} and {three['answered']} answered")
if not three["seconds"] < one["seconds"]:
    sys.exit("FAIL: three workers did not drain the backlog faster than one")
EOF

step "Prometheus sees every edge and worker"
client targets --edges 3 --workers 3

step "docker kill (SIGKILL) of one worker container under load"
victim=$(docker-compose ps -q worker | sed -n 1p)
client load --url ws://127.0.0.1:8080/ws --clients 8 --messages 100 --interval 0.02 \
    --during "docker kill --signal KILL $victim >/dev/null && echo killed ${victim:0:12}, pending per consumer: \
        && docker-compose exec -T redis redis-cli XPENDING fanout:inbound workers | tail -n +4 | paste -sd ' '" \
    --timeout 120
wait_until "the queue settled (lag 0, pending 0)" 60 queue_settled
show "XINFO CONSUMERS fanout:inbound workers after the kill (name, pending, idle)" \
    bash -c "docker-compose exec -T redis redis-cli XINFO CONSUMERS fanout:inbound workers | paste - - - - - - | cut -f2,4,6"

step "docker stop (SIGTERM) of one edge container: drain"
client drain --url ws://127.0.0.1:8080/ws --clients 9 --newcomers 4

step "queue depth at the end"
wait_until "the queue settled (lag 0, pending 0)" 60 queue_settled
show "docker-compose exec redis redis-cli XINFO GROUPS fanout:inbound" redis_cli XINFO GROUPS fanout:inbound

step "passed"
