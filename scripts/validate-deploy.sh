#!/usr/bin/env bash
# Static validation of the deployment files: Dockerfile, docker-compose.yml
# and Config/. Nothing here builds or starts a container (scripts/compose-
# test.sh runs the stack for real); instead every file is checked by the
# tool that will read it (docker-compose, haproxy, redis-server, python's
# JSON/YAML parsers) and against the project's own rules, in seconds, and
# including what compose-test.sh cannot run here (grafana's files).
#
#   bash scripts/validate-deploy.sh
#
# Prints one `ok: ...` or `FAIL: ...` line per check (a failure is followed
# by the tool's output, indented), then `validate-deploy: N passed, M failed`.
# Exits non-zero if any check failed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

COMPOSE_FILE=docker-compose.yml
HAPROXY_CFG=Config/haproxy.cfg
HAPROXY_LOCAL_TEMPLATE=Config/haproxy.local.cfg.template
# Where the lb container finds the TLS certificate (compose mounts it there).
TLS_CERT_PATH=/usr/local/etc/haproxy/certs/fanout.pem
# Open-files limit of the project's machines (and of the compose ulimits).
FD_LIMIT=20000
# Metric names the dashboard must show: the contract with the Swift code.
CONTRACT_METRICS=(
    fanout_edge_connections
    fanout_edge_messages_in_total
    fanout_edge_messages_out_total
    fanout_stream_lag
    fanout_stream_pending
    fanout_stream_length
    fanout_stream_backlog
    fanout_redis_used_memory_bytes
    fanout_stream_trimmed_unprocessed_total
    fanout_worker_handler_duration_seconds_bucket
    fanout_edge_end_to_end_latency_seconds_bucket
    fanout_redis_errors_total
    fanout_worker_dead_lettered_total
    fanout_edge_refusals_total
    fanout_edge_slow_consumer_closes_total
    fanout_linger_windows_total
    fanout_linger_switches_total
)

# ---------------------------------------------------------------- tools ---
# haproxy installs to /usr/sbin, which a non-login or non-root PATH may lack.
export PATH="$PATH:/usr/sbin:/sbin"

# Debian packages; `apt-get update` only when something is missing, so a
# machine that has everything does not touch the network.
missing=()
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if ((${#missing[@]} > 0)); then
    echo "validate-deploy: installing ${missing[*]}"
    sudo=()
    if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
    "${sudo[@]}" apt-get update -q
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# YAML parsing needs PyYAML. Debian's python3 has it whenever docker-compose
# is installed (python3-yaml is a dependency); a python3 earlier on PATH
# (pyenv, a venv) may not.
PY=python3
if ! "$PY" -c 'import yaml' >/dev/null 2>&1; then
    PY=/usr/bin/python3
fi

workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT

# ------------------------------------------------------------- plumbing ---
passed=0
failed=0

# check DESCRIPTION COMMAND...: runs the command, records ok/FAIL.
check() {
    local description=$1
    shift
    local output
    if output=$("$@" 2>&1); then
        echo "ok: $description"
        passed=$((passed + 1))
    else
        echo "FAIL: $description"
        if [[ -n $output ]]; then
            # Indent every line of the tool's output under the FAIL line.
            # shellcheck disable=SC2001
            sed 's/^/    /' <<<"$output"
        fi
        failed=$((failed + 1))
    fi
}

# Normalised compose configuration (anchors and merges resolved, paths made
# absolute), as docker-compose itself sees it.
compose_json() {
    docker-compose -f "$COMPOSE_FILE" config 2>/dev/null |
        "$PY" -c 'import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)' ||
        { echo "cannot check: docker-compose config failed (see the first check)" >&2; return 1; }
}

# ------------------------------------------------------------- compose ---
compose_config_valid() {
    docker-compose -f "$COMPOSE_FILE" config -q
}

# No compose-v2-only keys, so Debian's docker-compose 1.29 and the v2 plugin
# read the file the same way.
compose_no_v2_only_keys() {
    "$PY" - "$COMPOSE_FILE" <<'EOF'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
bad = [k for k in ("name", "include") if k in doc]
if bad:
    sys.exit("compose-v2-only top-level keys: " + ", ".join(bad))
EOF
}

compose_paths_exist() {
    local config
    config=$(compose_json) || return 1
    "$PY" - "$config" <<'EOF'
import json, os, sys
cfg = json.loads(sys.argv[1])
missing = []
checked = 0
for name, svc in cfg.get("services", {}).items():
    build = svc.get("build")
    if build:
        ctx = build["context"] if isinstance(build, dict) else build
        dockerfile = os.path.join(ctx, build.get("dockerfile", "Dockerfile")) if isinstance(build, dict) else os.path.join(ctx, "Dockerfile")
        for path in (ctx, dockerfile):
            checked += 1
            if not os.path.exists(path):
                missing.append(f"{name}: build {path}")
    for env_file in svc.get("env_file", []) or []:
        checked += 1
        if not os.path.exists(env_file):
            missing.append(f"{name}: env_file {env_file}")
    for vol in svc.get("volumes", []) or []:
        src = vol.get("source") if isinstance(vol, dict) else vol.split(":", 1)[0]
        if src and src.startswith(("/", ".")):  # bind mount, not a named volume
            checked += 1
            if not os.path.exists(src):
                missing.append(f"{name}: bind mount {src}")
if missing:
    sys.exit("missing:\n" + "\n".join(missing))
if checked == 0:
    sys.exit("found no paths to check: did the compose format change?")
EOF
}

# Scalable with --scale: no fixed container name, no host port to collide.
compose_scalable() {
    local service=$1 config
    config=$(compose_json) || return 1
    "$PY" - "$config" "$service" <<'EOF'
import json, sys
cfg, name = json.loads(sys.argv[1]), sys.argv[2]
svc = cfg["services"].get(name)
if svc is None:
    sys.exit(f"no service {name!r}")
problems = [k for k in ("container_name", "ports") if k in svc]
if problems:
    sys.exit(f"service {name!r} sets {', '.join(problems)}: it could not run more than one replica")
EOF
}

# Two edges by default. docker-compose >= 1.27 takes the count from
# deploy.replicas (or scale), never from both.
compose_two_edges() {
    local config
    config=$(compose_json) || return 1
    "$PY" - "$config" <<'EOF'
import json, sys
svc = json.loads(sys.argv[1])["services"]["edge"]
replicas = (svc.get("deploy") or {}).get("replicas")
scale = svc.get("scale")
if replicas is not None and scale is not None:
    sys.exit("edge sets both scale and deploy.replicas; docker-compose refuses that")
count = replicas if replicas is not None else scale
if count != 2:
    sys.exit(f"edge replica count is {count!r}, want 2")
EOF
}

compose_redis_not_published() {
    local config
    config=$(compose_json) || return 1
    "$PY" - "$config" <<'EOF'
import json, sys
if "ports" in json.loads(sys.argv[1])["services"]["redis"]:
    sys.exit("redis publishes a host port, but runs with protected-mode off and no password")
EOF
}

# ------------------------------------------------------------- haproxy ---
# -dW: zero-warning mode, a warning fails the check too.
haproxy_check() {
    haproxy -dW -c -f "$1"
}

render_local_template() {
    "$PY" - "$HAPROXY_LOCAL_TEMPLATE" "$1" <<'EOF'
import sys
template, out = sys.argv[1], sys.argv[2]
servers = "\n".join(
    f"    server edge{i} 127.0.0.1:{port} check agent-check agent-port {aport} agent-inter 1s"
    for i, (port, aport) in enumerate([(18081, 18091), (18082, 18092)], start=1)
)
lines, found = [], {"LB_PORT": 0, "STATS_PORT": 0, "SERVERS": 0}
for line in open(template).read().splitlines():
    if line.strip() == "{{SERVERS}}":
        found["SERVERS"] += 1
        lines.append(servers)
        continue
    for key, value in (("LB_PORT", "8080"), ("STATS_PORT", "8404")):
        if "{{%s}}" % key in line:
            found[key] += 1
            line = line.replace("{{%s}}" % key, value)
    lines.append(line)
text = "\n".join(lines) + "\n"
problems = [f"placeholder {k} not found" for k, n in found.items() if n == 0]
if "{{" in text:
    problems.append("unreplaced placeholder left after rendering")
if "resolvers" in text:
    problems.append("local template must not use DNS resolvers")
if problems:
    sys.exit("\n".join(problems))
open(out, "w").write(text)
EOF
}

haproxy_local_template_check() {
    local rendered=$workdir/haproxy.local.cfg
    render_local_template "$rendered" && haproxy_check "$rendered"
}

# The TLS frontend exists only when FANOUT_TLS_CERT is set (`.if` in the
# file), so `haproxy -c` above never saw it: check it again with the
# variable set and the container's certificate path pointing at a
# throwaway self-signed certificate.
haproxy_tls_check() {
    local cert=$workdir/tls.pem rendered=$workdir/haproxy.tls.cfg
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
        -keyout "$workdir/tls.key" -out "$workdir/tls.crt" >/dev/null 2>&1 || return 1
    cat "$workdir/tls.crt" "$workdir/tls.key" >"$cert"
    grep -q "ssl crt $TLS_CERT_PATH" "$HAPROXY_CFG" || { echo "$HAPROXY_CFG has no 'ssl crt $TLS_CERT_PATH'"; return 1; }
    sed "s#ssl crt $TLS_CERT_PATH#ssl crt $cert#" "$HAPROXY_CFG" >"$rendered"
    FANOUT_TLS_CERT="set" haproxy -dW -c -f "$rendered" || return 1
    # And the block really is conditional: unset, a certificate that does not exist is never read.
    sed "s#ssl crt $TLS_CERT_PATH#ssl crt $workdir/absent.pem#" "$HAPROXY_CFG" >"$rendered"
    env -u FANOUT_TLS_CERT haproxy -dW -c -f "$rendered" || { echo "the TLS frontend is not conditional on FANOUT_TLS_CERT"; return 1; }
}

# compose mounts the certificate where haproxy.cfg reads it, and publishes the TLS port.
compose_tls_wiring() {
    local config
    config=$(FANOUT_TLS_CERT=/etc/hostname compose_json) || return 1
    "$PY" - "$config" "$TLS_CERT_PATH" <<'EOF2'
import json, sys
lb, path = json.loads(sys.argv[1])["services"]["lb"], sys.argv[2]
targets = [v.get("target") if isinstance(v, dict) else v.split(":")[1] for v in lb.get("volumes", [])]
problems = []
if path not in targets:
    problems.append(f"lb mounts nothing at {path}")
if not any(str(p.get("target") if isinstance(p, dict) else p).split(":")[-1] == "8443" for p in lb.get("ports", [])):
    problems.append("lb does not publish 8443")
if (lb.get("environment") or {}).get("FANOUT_TLS_CERT") in (None, ""):
    problems.append("lb does not pass FANOUT_TLS_CERT on to haproxy.cfg")
if problems:
    sys.exit("\n".join(problems))
EOF2
}

# HAProxy 2.6 needs about 2 fds per connection and refuses to start when it
# cannot raise RLIMIT_NOFILE that far (strict-limits is on by default);
# `haproxy -c` does not notice, so check the arithmetic here.
haproxy_maxconn_fits() {
    local file=$1 maxconn
    maxconn=$(awk '/^global/{g=1; next} /^[^ \t#]/{g=0} g && $1=="maxconn"{print $2; exit}' "$file")
    if [[ -z $maxconn ]]; then
        echo "no global maxconn in $file (HAProxy would derive it from the fd limit)"
        return 1
    fi
    local needed=$((2 * maxconn + 500))
    if ((needed > FD_LIMIT)); then
        echo "global maxconn $maxconn needs ~$needed open files, limit is $FD_LIMIT"
        return 1
    fi
}

# ---------------------------------------------------------- Dockerfile ---
dockerfile_shape() {
    "$PY" - Dockerfile <<'EOF'
import re, sys
# Join continuation lines, drop comments.
text = re.sub(r"\\\n", " ", open(sys.argv[1]).read())
lines = [l.strip() for l in text.splitlines() if l.strip() and not l.strip().startswith("#")]
instr = [(l.split(None, 1)[0].upper(), l.split(None, 1)[1] if " " in l else "") for l in lines]
problems = []
froms = [a for i, a in instr if i == "FROM"]
if len(froms) < 2:
    problems.append(f"{len(froms)} FROM stage(s), want a multi-stage build (>= 2)")
last_from = max(n for n, (i, _) in enumerate(instr) if i == "FROM") if froms else 0
final = instr[last_from:]
users = [a.split(":")[0].strip() for i, a in final if i == "USER"]
if not users:
    problems.append("final stage has no USER: the container would run as root")
elif users[-1] in ("root", "0"):
    problems.append(f"final stage runs as {users[-1]}")
if not any(i == "ENTRYPOINT" for i, _ in final):
    problems.append("final stage has no ENTRYPOINT")
if problems:
    sys.exit("\n".join(problems))
EOF
}

dockerignore_excludes() {
    local pattern missing=()
    for pattern in .build '.build-*' .git .run; do
        grep -qxF -- "$pattern" .dockerignore || missing+=("$pattern")
    done
    if ((${#missing[@]} > 0)); then
        echo ".dockerignore does not exclude: ${missing[*]}"
        return 1
    fi
}

# --------------------------------------------------------------- redis ---
redis_conf_settings() {
    local want missing=()
    for want in 'appendonly yes' 'appendfsync everysec' 'bind 0.0.0.0' \
        'protected-mode no' 'maxmemory-policy noeviction'; do
        grep -qE "^${want// /[[:space:]]+}[[:space:]]*$" Config/redis.conf || missing+=("$want")
    done
    grep -qE '^tcp-keepalive[[:space:]]+[1-9][0-9]*' Config/redis.conf || missing+=("tcp-keepalive N")
    if ((${#missing[@]} > 0)); then
        printf 'missing setting: %s\n' "${missing[@]}"
        return 1
    fi
}

# Let a real redis-server parse the file (on a private unix socket, no TCP
# port), so a misspelt or version-incompatible directive is caught.
redis_conf_loads() {
    local dir=$workdir/redis conf=$PWD/Config/redis.conf sock pid
    mkdir -p "$dir"
    sock=$dir/redis.sock
    # Run in a scratch directory: the AOF is written to the working directory.
    (cd "$dir" && exec redis-server "$conf" \
        --bind 127.0.0.1 --port 0 --unixsocket "$sock" --daemonize no \
        >"$dir/log" 2>&1) &
    pid=$!
    for _ in $(seq 50); do
        if redis-cli -s "$sock" ping >/dev/null 2>&1; then
            redis-cli -s "$sock" shutdown nosave >/dev/null 2>&1 || true
            wait "$pid" 2>/dev/null || true
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            break
        fi
        sleep 0.1
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    cat "$dir/log"
    return 1
}

# ---------------------------------------------- prometheus and grafana ---
require_file() {
    [[ -f $1 ]] || { echo "no such file: $1"; return 1; }
}

yaml_parses() {
    require_file "$1" || return 1
    "$PY" -c 'import sys, yaml; yaml.safe_load(open(sys.argv[1]))' "$1"
}

prometheus_dns_sd() {
    require_file Config/prometheus.yml || return 1
    "$PY" - Config/prometheus.yml <<'EOF'
import sys, yaml
cfg = yaml.safe_load(open(sys.argv[1]))
found = set()
for job in cfg.get("scrape_configs", []):
    for sd in job.get("dns_sd_configs", []) or []:
        if sd.get("type") == "A":
            for name in sd.get("names", []):
                found.add((name, sd.get("port")))
missing = {("edge", 8080), ("worker", 9090)} - found
if missing:
    sys.exit("no dns_sd_configs (type A) for: " + ", ".join(f"{n}:{p}" for n, p in sorted(missing)))
EOF
}

dashboard_has_metrics() {
    local metric missing=()
    for metric in "${CONTRACT_METRICS[@]}"; do
        grep -q "$metric" "$1" || missing+=("$metric")
    done
    if ((${#missing[@]} > 0)); then
        printf 'no panel queries %s\n' "${missing[@]}"
        return 1
    fi
}

# ------------------------------------------------- compose: sentinel ---
# docker-compose.sentinel.yml, an override of docker-compose.yml (issue 16): a master, two
# replicas and three sentinels. Checked merged, the way `docker-compose -f … -f … up` reads it.
SENTINEL_COMPOSE_FILE=docker-compose.sentinel.yml

sentinel_compose_json() {
    docker-compose -f "$COMPOSE_FILE" -f "$SENTINEL_COMPOSE_FILE" config 2>/dev/null |
        "$PY" -c 'import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)' ||
        { echo "cannot check: docker-compose config failed for the sentinel variant" >&2; return 1; }
}

sentinel_compose_valid() {
    docker-compose -f "$COMPOSE_FILE" -f "$SENTINEL_COMPOSE_FILE" config -q
}

sentinel_compose_no_v2_only_keys() {
    "$PY" - "$SENTINEL_COMPOSE_FILE" <<'EOF'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
bad = [k for k in ("name", "include") if k in doc]
if bad:
    sys.exit("compose-v2-only top-level keys: " + ", ".join(bad))
EOF
}

# Edges and workers ask exactly the three sentinel services for the master Config/sentinel.conf
# monitors, with FANOUT_REDIS_MIN_REPLICAS=1; every replica and sentinel keeps its rewritable
# config in a /data volume of its own; nothing of Redis or Sentinel is published; every bind
# mount exists.
sentinel_compose_shape() {
    local config
    config=$(sentinel_compose_json) || return 1
    "$PY" - "$config" Config/sentinel.conf <<'EOF'
import json, os, re, sys
cfg, conf = json.loads(sys.argv[1]), open(sys.argv[2]).read()
services = cfg["services"]
problems = []
monitor = re.search(r"^sentinel monitor (\S+) (\S+) (\d+) (\d+)$", conf, re.M)
if not monitor:
    sys.exit("Config/sentinel.conf has no `sentinel monitor NAME HOST PORT QUORUM` line")
name, host, port, quorum = monitor.groups()
if host not in services:
    sys.exit(f"sentinel.conf monitors {host!r}, which is no compose service")
sentinels = sorted(s for s in services if s.startswith("sentinel-"))
replicas = sorted(s for s in services if s.startswith("redis-replica-"))
if len(sentinels) != 3:
    problems.append(f"{len(sentinels)} sentinel services, want 3")
if int(quorum) != 2:
    problems.append(f"quorum {quorum}, want 2 of 3")
if len(replicas) != 2:
    problems.append(f"{len(replicas)} replica services, want 2")
want = "redis-sentinel://" + ",".join(f"{s}:26379" for s in sentinels) + f"/{name}"
for role in ("edge", "worker"):
    env = services[role].get("environment") or {}
    if env.get("FANOUT_REDIS_URL") != want:
        problems.append(f"{role}: FANOUT_REDIS_URL is {env.get('FANOUT_REDIS_URL')!r}, want {want!r}")
    if env.get("FANOUT_REDIS_MIN_REPLICAS") != "1":
        problems.append(f"{role}: FANOUT_REDIS_MIN_REPLICAS is not 1")
def parts(vol):
    if isinstance(vol, dict):
        return vol.get("source"), vol.get("target")
    fields = vol.split(":")
    return fields[0], fields[1] if len(fields) > 1 else fields[0]
owners = {}
for svc_name in [host] + replicas + sentinels:
    svc = services[svc_name]
    if "ports" in svc:
        problems.append(f"{svc_name} publishes a host port")
    has_data = False
    for vol in svc.get("volumes", []) or []:
        src, target = parts(vol)
        if src and src.startswith(("/", ".")):
            if not os.path.exists(src):
                problems.append(f"{svc_name}: bind mount {src} missing")
        elif target == "/data":
            has_data = True
            if src in owners:
                problems.append(f"{svc_name} shares volume {src} with {owners[src]}")
            owners[src] = svc_name
    if not has_data:
        problems.append(f"{svc_name} has no /data volume of its own for its rewritable config")
if problems:
    sys.exit("\n".join(problems))
EOF
}

# A real redis-sentinel parses Config/sentinel.conf (on a private unix socket, no TCP port; the
# monitored host name, resolvable only on the compose network, replaced by 127.0.0.1).
sentinel_conf_loads() {
    local dir=$workdir/sentinel sock pid
    mkdir -p "$dir"
    sock=$dir/sentinel.sock
    sed -E 's/^(sentinel monitor [^ ]+) [^ ]+ /\1 127.0.0.1 /' Config/sentinel.conf >"$dir/sentinel.conf"
    (cd "$dir" && exec redis-sentinel "$dir/sentinel.conf" \
        --port 0 --unixsocket "$sock" --daemonize no >"$dir/log" 2>&1) &
    pid=$!
    for _ in $(seq 50); do
        if [[ $(redis-cli -s "$sock" sentinel get-master-addr-by-name fanout 2>/dev/null | head -n 1) == 127.0.0.1 ]]; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            break
        fi
        sleep 0.1
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    cat "$dir/log"
    return 1
}

# -------------------------------------------------------------- checks ---
check "docker-compose config -q accepts $COMPOSE_FILE" compose_config_valid
check "$COMPOSE_FILE uses no compose-v2-only keys" compose_no_v2_only_keys
check "every path $COMPOSE_FILE mentions exists (build context, Dockerfile, bind mounts)" compose_paths_exist
check "compose service worker has no container_name and no ports (scalable)" compose_scalable worker
check "compose service edge has no container_name and no ports (scalable)" compose_scalable edge
check "compose runs 2 edge replicas" compose_two_edges
check "compose does not publish redis" compose_redis_not_published
check "docker-compose config -q accepts $COMPOSE_FILE + $SENTINEL_COMPOSE_FILE" sentinel_compose_valid
check "$SENTINEL_COMPOSE_FILE uses no compose-v2-only keys" sentinel_compose_no_v2_only_keys
check "sentinel variant: 2 replicas and 3 sentinels with volumes of their own, edges and workers ask the sentinels, nothing published" sentinel_compose_shape
if command -v redis-sentinel >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
    check "redis-sentinel loads Config/sentinel.conf" sentinel_conf_loads
else
    echo "skip: redis-sentinel not installed, Config/sentinel.conf not loaded"
fi

check "haproxy -c accepts $HAPROXY_CFG" haproxy_check "$HAPROXY_CFG"
check "haproxy -c accepts $HAPROXY_CFG with its TLS frontend (FANOUT_TLS_CERT set)" haproxy_tls_check
check "compose mounts the TLS certificate at $TLS_CERT_PATH and publishes 8443" compose_tls_wiring
check "haproxy -c accepts $HAPROXY_LOCAL_TEMPLATE rendered with 2 servers" haproxy_local_template_check
check "$HAPROXY_CFG global maxconn fits the $FD_LIMIT open-files limit" haproxy_maxconn_fits "$HAPROXY_CFG"
check "$HAPROXY_LOCAL_TEMPLATE global maxconn fits the $FD_LIMIT open-files limit" haproxy_maxconn_fits "$HAPROXY_LOCAL_TEMPLATE"

check "Dockerfile: multi-stage, non-root USER, ENTRYPOINT" dockerfile_shape
check ".dockerignore excludes .build, .build-*, .git, .run" dockerignore_excludes

check "Config/redis.conf has the required settings" redis_conf_settings
if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
    check "redis-server loads Config/redis.conf" redis_conf_loads
else
    echo "skip: redis-server not installed, Config/redis.conf not loaded"
fi

check "Config/prometheus.yml parses as YAML" yaml_parses Config/prometheus.yml
check "Config/prometheus.yml finds edge:8080 and worker:9090 by DNS" prometheus_dns_sd
while IFS= read -r -d '' file; do
    check "$file parses as YAML" yaml_parses "$file"
done < <(find Config/grafana/provisioning -type f \( -name '*.yml' -o -name '*.yaml' \) -print0 | sort -z)

dashboards=0
while IFS= read -r -d '' file; do
    dashboards=$((dashboards + 1))
    check "$file parses as JSON" python3 -m json.tool "$file"
done < <(find Config/grafana/dashboards -type f -name '*.json' -print0 | sort -z)
check "at least one Grafana dashboard exists" test "$dashboards" -gt 0
check "Config/grafana/dashboards/fanout.json shows every contract metric" \
    dashboard_has_metrics Config/grafana/dashboards/fanout.json

echo "validate-deploy: $passed passed, $failed failed"
if ((failed > 0)); then
    exit 1
fi
