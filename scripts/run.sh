#!/usr/bin/env bash
# Runs Fanout locally: the README's "Run it" command.
#
#   bash scripts/run.sh                       # redis + 1 edge on :8080 + 2 echo workers
#   bash scripts/run.sh --edges 2             # HAProxy on :8080, edges on :8081 and :8082
#   bash scripts/run.sh --sentinel            # a master, 2 replicas and 3 sentinels instead of one redis
#   bash scripts/run.sh --cluster 3           # a 3-master Redis Cluster, 6 inbound partitions
#   bash scripts/run.sh --help
#
# 1. installs what is missing (scripts/install-deps.sh --run),
# 2. builds `fanout` (release; --debug for a debug build, --no-build to skip),
# 3. starts its own redis-server on 127.0.0.1:6390 with its data in .run/redis/
#    (or uses --redis-url; or, with --sentinel, a master on :6390, replicas on :6391 and :6392
#    and three redis-sentinel processes on :26390-26392, data in .run/sentinel/; with
#    --cluster N, N cluster masters on :6390 and up, data in .run/cluster/), the edges,
#    the workers and, with more than one edge, HAProxy in front of them,
# 4. prefixes every process's log lines with its name ([redis], [edge-1], [worker-2], [lb])
#    and prints where to connect once every edge answers /readyz,
# 5. on Ctrl-C or SIGTERM stops edges and workers first (SIGTERM, then SIGKILL after 15 s),
#    then HAProxy, then redis, and exits 0.
#
# Every child runs in its own session (setsid), so a Ctrl-C in the terminal reaches only this
# script, which then stops the children in order; otherwise redis would get the same SIGINT
# and shut down under the draining edges. Children are tracked by their real PIDs: each one's
# output goes to a `sed` prefixer through a file descriptor opened beforehand, so `$!` is the
# process itself, not a pipeline.
#
# shellcheck disable=SC2317 # functions run from traps look unreachable to shellcheck
set -euo pipefail

invoked_from=$PWD
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
# haproxy installs to /usr/sbin, which a non-login or non-root PATH may lack.
export PATH="$PATH:/usr/sbin:/sbin"

# The handlers `fanout worker --handler` accepts: BuiltInHandlers.names, read from its source so
# that this script accepts exactly the same names.
handlers_source=Sources/FanoutWorker/BuiltInHandlers.swift
mapfile -t handler_names < <(
    sed -n 's/^ *public static let names = \[\(.*\)\]$/\1/p' "$handlers_source" | tr -d '" ' | tr ',' '\n'
)
if ((${#handler_names[@]} == 0)); then
    echo "run.sh: cannot read the handler names (BuiltInHandlers.names) from $handlers_source" >&2
    exit 1
fi
handler_list=$(IFS=,; echo "${handler_names[*]}")
handler_list=${handler_list//,/, }

usage() {
    # Unquoted EOF: only $handler_list is expanded; the text has no other $ or backquote.
    cat <<EOF
Usage: bash scripts/run.sh [options]

Runs Fanout locally: a redis-server, the edges, the workers and, with more
than one edge, HAProxy in front of them. Ctrl-C stops everything.

Options:
  --edges N          number of edges (default 1)
  --workers M        number of workers, 0 allowed (default 2)
  --handler NAME     worker handler (default echo): $handler_list;
                     delay waits FANOUT_DELAY_MS (default 50) per message
  --port P           client port (default 8080). One edge listens on P itself;
                     with --edges N > 1, HAProxy listens on P and the edges
                     on P+1 ... P+N
  --stats-port S     HAProxy stats page, with --edges N > 1 (default 8404)
  --redis-port R     port of the redis-server this script starts (default 6390)
  --redis-url URL    use this Redis instead of starting one
  --sentinel         start a master (--redis-port), two replicas (the next two
                     ports) and three sentinels (--redis-port + 20000 ...
                     + 20002), and point edges and workers at the sentinels
                     (redis-sentinel://..., master name "fanout"). Starts from
                     an empty .run/sentinel/ each time. Try a failover with
                     redis-cli -p 26390 sentinel failover fanout
  --config FILE      KEY=value file passed to every fanout process
                     (see Config/fanout.conf)
  --cluster N        start a Redis Cluster of N masters (1-16) on --redis-port
                     and the next N-1 ports (cluster bus on +10000), joined
                     with redis-cli --cluster create, and point edges and
                     workers at it (redis-cluster://...) with
                     FANOUT_STREAM_PARTITIONS=2N unless set. Starts from an
                     empty .run/cluster/ each time. Reshard with
                     redis-cli --cluster reshard 127.0.0.1:6390
  --debug            debug build (.build/debug/fanout) instead of release
  --no-build         do not run swift build; use the binary already built
  -h, --help         show this help

Everything listens on 127.0.0.1 only. Redis keeps its data in .run/redis/
(delete the folder for an empty queue). FANOUT_* environment variables reach
every fanout process; the flags this script passes (--redis-url, --host,
--port, --edge-id, --handler, --metrics-port) take precedence over them.
EOF
}

# ------------------------------------------------------------- options ---
edges=1
workers=2
handler="echo"
port=8080
stats_port=8404
redis_port=6390
redis_port_given=0
redis_url=
config_file=
sentinel=0
cluster=0
build_config=release
build=1

die_usage() {
    echo "run.sh: $*" >&2
    exit 2
}

while (($# > 0)); do
    option=$1
    value=
    has_inline_value=0
    if [[ $option == --*=* ]]; then
        value=${option#*=}
        option=${option%%=*}
        has_inline_value=1
    fi
    case $option in
        --edges | --workers | --handler | --port | --stats-port | --redis-port | --redis-url | --config | --cluster)
            if ((!has_inline_value)); then
                (($# >= 2)) || die_usage "$option needs a value"
                value=$2
                shift
            fi
            ;;
        -h | --help | --debug | --no-build | --sentinel)
            ((!has_inline_value)) || die_usage "$option takes no value"
            ;;
        *)
            die_usage "unknown option '$1' (see --help)"
            ;;
    esac
    shift
    case $option in
        --edges) edges=$value ;;
        --workers) workers=$value ;;
        --handler) handler=$value ;;
        --port) port=$value ;;
        --stats-port) stats_port=$value ;;
        --redis-port) redis_port=$value redis_port_given=1 ;;
        --redis-url) redis_url=$value ;;
        --config) config_file=$value ;;
        --debug) build_config=debug ;;
        --sentinel) sentinel=1 ;;
        --cluster) cluster=$value ;;
        --no-build) build=0 ;;
        -h | --help)
            usage
            exit 0
            ;;
    esac
done

is_count() { [[ $1 =~ ^[0-9]+$ ]] && ((10#$1 <= 64)); }
is_port() { [[ $1 =~ ^[0-9]+$ ]] && ((10#$1 >= 1 && 10#$1 <= 65535)); }

if ! is_count "$edges" || ((10#$edges < 1)); then die_usage "--edges: expected 1 to 64, got '$edges'"; fi
is_count "$workers" || die_usage "--workers: expected 0 to 64, got '$workers'"
is_handler() {
    local name
    for name in "${handler_names[@]}"; do [[ $1 == "$name" ]] && return 0; done
    return 1
}
is_handler "$handler" || die_usage "--handler: expected one of $handler_list, got '$handler'"
is_port "$port" || die_usage "--port: expected a port number, got '$port'"
is_port "$stats_port" || die_usage "--stats-port: expected a port number, got '$stats_port'"
is_port "$redis_port" || die_usage "--redis-port: expected a port number, got '$redis_port'"
if [[ -n $redis_url && $redis_port_given == 1 ]]; then
    die_usage "--redis-port and --redis-url exclude each other"
fi
if [[ -n $redis_url && $sentinel == 1 ]]; then
    die_usage "--sentinel and --redis-url exclude each other"
fi
if [[ ! $cluster =~ ^[0-9]+$ ]] || ((10#$cluster > 16)) || { [[ $cluster != 0 ]] && ((10#$cluster < 1)); }; then
    die_usage "--cluster: expected 1 to 16 masters, got '$cluster'"
fi
cluster=$((10#$cluster))
if ((cluster && sentinel)); then die_usage "--cluster and --sentinel exclude each other"; fi
if [[ -n $redis_url ]] && ((cluster)); then die_usage "--cluster and --redis-url exclude each other"; fi
if ((cluster && 10#$redis_port + cluster - 1 + 10000 > 65535)); then
    die_usage "--redis-port $redis_port leaves no room for the cluster bus at +10000 (use a lower port)"
fi
if ((sentinel && 10#$redis_port + 20002 > 65535)); then
    die_usage "--redis-port $redis_port leaves no room for the sentinels at +20000 (use a lower port)"
fi
edges=$((10#$edges)) workers=$((10#$workers)) port=$((10#$port))
stats_port=$((10#$stats_port)) redis_port=$((10#$redis_port))
if ((edges > 1 && port + edges > 65535)); then
    die_usage "--port $port leaves no room for $edges edges above it"
fi
used_ports=("$port")
for ((i = 1; edges > 1 && i <= edges; i++)); do used_ports+=($((port + i))); done
if ((edges > 1)); then used_ports+=("$stats_port"); fi
if [[ -z $redis_url ]]; then used_ports+=("$redis_port"); fi
for ((i = 1; i < cluster; i++)); do used_ports+=($((redis_port + i))); done
if ((sentinel)); then
    used_ports+=($((redis_port + 1)) $((redis_port + 2)) $((redis_port + 20000)) $((redis_port + 20001)) $((redis_port + 20002)))
fi
duplicate=$(printf '%s\n' "${used_ports[@]}" | sort | uniq -d | head -n 1)
if [[ -n $duplicate ]]; then
    die_usage "port $duplicate would be used twice (client, edge, stats and redis ports must differ)"
fi
if [[ -n $config_file ]]; then
    # Relative to where the script was called from; the processes get an absolute path.
    [[ $config_file == /* ]] || config_file=$invoked_from/$config_file
    [[ -f $config_file && -r $config_file ]] || die_usage "--config: cannot read $config_file"
    config_file=$(cd "$(dirname "$config_file")" && pwd)/$(basename "$config_file")
fi

# ------------------------------------------------------------ plumbing ---
# The terminal's stdout and stderr, kept for the signal handler: bash may run a trap while a
# redirection such as `>/dev/null` of the interrupted command is still in effect.
exec {terminal_out}>&1 {terminal_err}>&2
say() { echo "[run] $*"; }
fail() {
    echo "[run] error: $*" >&2
    exit 1
}

# Process table. pids: everything started, in start order (names: PID -> name);
# app_pids: edges, then workers, for the startup checks.
pids=()
app_pids=()
lb_pid=
redis_pid=
sed_pids=()
declare -A names=()
started_pid=

# start NAME COMMAND...: runs COMMAND in its own session with its output prefixed by
# "[NAME] "; sets started_pid to COMMAND's own PID.
start() {
    local name=$1 fd
    shift
    # A signal between starting the process and recording its PID is handled after recording.
    in_start=1
    # The prefixer ignores INT, TERM and HUP so it outlives the process it serves and prints
    # its last (shutdown) lines; it ends when the process closes its output.
    exec {fd}> >(
        trap '' INT TERM HUP
        exec sed -u "s/^/[$name] /"
    )
    sed_pids+=("$!")
    setsid "$@" </dev/null >&"$fd" 2>&1 {terminal_out}>&- {terminal_err}>&- &
    started_pid=$!
    exec {fd}>&-
    pids+=("$started_pid")
    names[$started_pid]=$name
    in_start=0
    if [[ -n $pending_signal ]]; then on_signal; fi
}

alive() { kill -0 "$1" 2>/dev/null; }

# signal_process SIGNAL PID: the process's whole session group (it is its leader), or the
# process alone if setsid has not run yet.
signal_process() {
    kill "-$1" -- "-$2" 2>/dev/null || kill "-$1" "$2" 2>/dev/null || true
}

unclean=0
force_stop=0
exited= # the PID whose unexpected exit ended the run

# stop_processes SIGNAL SECONDS PID...: sends SIGNAL, waits up to SECONDS for every PID to
# exit, SIGKILLs the rest, and reports how each one ended.
stop_processes() {
    local signal=$1 seconds=$2 pid status
    shift 2
    local list=("$@")
    ((${#list[@]} > 0)) || return 0
    for pid in "${list[@]}"; do
        alive "$pid" && signal_process "$signal" "$pid"
    done
    local deadline=$((SECONDS + seconds)) waiting
    while ((SECONDS < deadline && !force_stop)); do
        waiting=0
        for pid in "${list[@]}"; do
            if alive "$pid"; then waiting=1; fi
        done
        ((waiting)) || break
        sleep 0.1
    done
    for pid in "${list[@]}"; do
        if alive "$pid"; then
            if ((force_stop)); then
                say "${names[$pid]}: SIGKILL"
            else
                say "${names[$pid]} did not stop within ${seconds}s: SIGKILL"
            fi
            signal_process KILL "$pid"
            unclean=1
        fi
    done
    for pid in "${list[@]}"; do
        [[ $pid == "${exited:-}" ]] && continue # already reaped and reported
        status=0
        wait "$pid" 2>/dev/null || status=$?
        # 143: ended by the SIGTERM just sent, a normal end for a process without a handler;
        # 137: the SIGKILL reported above.
        if ((status != 0 && status != 143 && status != 137)); then
            say "${names[$pid]} exited with status $status"
        fi
    done
}

stopped=0
stop_all() {
    ((stopped)) && return 0
    stopped=1
    # Best effort from here on: a failing command must not leave processes behind.
    set +e
    # A second Ctrl-C while stopping skips the remaining grace periods.
    trap 'force_stop=1; say "stopping now (SIGKILL)"' INT TERM HUP
    # By name, from the process table alone: a signal may arrive before a caller of start has
    # recorded the PID anywhere else.
    local pid live=() apps=() lb=() redis=()
    for pid in "${pids[@]}"; do
        if alive "$pid"; then live+=("$pid"); fi
        case ${names[$pid]} in
            redis | redis-* | sentinel-*) redis+=("$pid") ;;
            lb) lb+=("$pid") ;;
            *) apps+=("$pid") ;;
        esac
    done
    if ((${#live[@]} > 0)); then say "stopping"; fi
    # Edges and workers first: they drain and ack while Redis and the LB are still there.
    # 15 s is above the processes' own FANOUT_SHUTDOWN_TIMEOUT_MS default (10 s).
    stop_processes TERM 15 "${apps[@]}"
    stop_processes TERM 5 "${lb[@]}"
    if ((${#redis[@]} > 0)) && alive "${redis[0]}"; then
        # NOSAVE: the AOF in .run/redis/ already holds everything; no extra RDB snapshot.
        redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
    fi
    stop_processes TERM 10 "${redis[@]}"
    # Let the prefixers print the last lines, then end them (bounded: a grandchild might
    # still hold a pipe open).
    local deadline=$((SECONDS + 2))
    for pid in "${sed_pids[@]}"; do
        while alive "$pid" && ((SECONDS < deadline)); do sleep 0.05; done
        kill "$pid" 2>/dev/null || true
    done
    wait "${sed_pids[@]}" 2>/dev/null || true
    if ((${#live[@]} > 0)); then say "stopped"; fi
}

running=0 # set once everything is up: a Ctrl-C from then on is the normal way to stop
in_start=0
pending_signal=
on_signal() {
    # A subshell forked while a signal was pending may run the trap too: only the script acts.
    [[ $BASHPID == "$$" ]] || return 0
    if ((in_start)); then
        pending_signal=1
        return 0
    fi
    exec 1>&"$terminal_out" 2>&"$terminal_err"
    stop_all
    if ((running && !unclean)); then exit 0; fi
    if ((!running)); then exit 130; fi
    exit 1
}
trap on_signal INT TERM HUP
# Errors (set -e) and every other exit also stop whatever was started.
trap 'status=$?; if [[ $BASHPID == "$$" ]]; then stop_all; fi; exit $status' EXIT

port_in_use() { (: </dev/tcp/127.0.0.1/"$1") 2>/dev/null; }

require_free_port() { # require_free_port PORT WHAT
    if port_in_use "$1"; then
        fail "port $1 ($2) is already in use; pick another with the options in --help (a process left from an earlier run?)"
    fi
}

# wait_until SECONDS PID DESCRIPTION COMMAND...: polls COMMAND until it succeeds; fails if
# PID exits first or SECONDS pass.
wait_until() {
    local seconds=$1 pid=$2 description=$3
    shift 3
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        if ! alive "$pid"; then fail "${names[$pid]} exited before $description"; fi
        if ((SECONDS >= deadline)); then fail "no $description after ${seconds}s (see the [${names[$pid]}] lines above)"; fi
        sleep 0.2
    done
}

ready() { [[ $(curl -s -o /dev/null -m 1 -w '%{http_code}' "$1") == 200 ]]; }

# ---------------------------------------------------------------- steps ---
if ((sentinel)); then bash scripts/install-deps.sh --sentinel; else bash scripts/install-deps.sh --run; fi
command -v setsid >/dev/null || fail "setsid (util-linux) is missing"
command -v curl >/dev/null || fail "curl is missing"

binary=$ROOT/.build/$build_config/fanout
if ((build)); then
    if [[ $build_config == release ]]; then
        say "building fanout (release): the first release build takes a few minutes"
        build_args=(-c release --product fanout)
    else
        say "building fanout (debug)"
        build_args=(--product fanout)
    fi
    # Drops the same harmless warnings as scripts/test.sh (the toolchain's "prohibited flag",
    # a dependency's unhandled CMakeLists.txt files, each followed by an indented path). The
    # status is swift build's own: PIPESTATUS is read before another command replaces it.
    set +e
    swift build "${build_args[@]}" 2>&1 | awk '
        /unhandled; explicitly declare/ { skip = 1; next }
        skip && /^    \// { next }
        { skip = 0 }
        sub(/warning: prohibited flag.*$/, "") && $0 == "" { next }
        { print; fflush() }'
    build_status=${PIPESTATUS[0]}
    set -e
    ((build_status == 0)) || fail "swift build failed (status $build_status)"
fi
[[ -x $binary ]] || fail "no binary at ${binary#"$ROOT"/}; run without --no-build"

# Ports: with one edge it serves the client port itself; with more, HAProxy does.
edge_ports=()
if ((edges == 1)); then
    edge_ports=("$port")
else
    for ((i = 1; i <= edges; i++)); do edge_ports+=($((port + i))); done
fi
if [[ -z $redis_url ]]; then require_free_port "$redis_port" "redis, --redis-port"; fi
for ((i = 1; i < cluster; i++)); do require_free_port $((redis_port + i)) "a cluster master, --redis-port + N"; done
for ((i = 0; i < cluster; i++)); do require_free_port $((redis_port + i + 10000)) "a cluster bus port, --redis-port + 10000 + N"; done
if ((sentinel)); then
    for p in $((redis_port + 1)) $((redis_port + 2)); do require_free_port "$p" "a replica, --redis-port + N"; done
    for p in $((redis_port + 20000)) $((redis_port + 20001)) $((redis_port + 20002)); do
        require_free_port "$p" "a sentinel, --redis-port + 2000N"
    done
fi
if ((edges > 1)); then
    require_free_port "$port" "HAProxy, --port"
    require_free_port "$stats_port" "HAProxy stats, --stats-port"
    for p in "${edge_ports[@]}"; do require_free_port "$p" "an edge, --port + N"; done
else
    require_free_port "$port" "the edge, --port"
fi

# Redis.
if ((sentinel)); then
    source "$ROOT/scripts/run-sentinel.sh"
elif ((cluster)); then
    source "$ROOT/scripts/run-cluster.sh"
elif [[ -z $redis_url ]]; then
    redis_dir=$ROOT/.run/redis
    mkdir -p "$redis_dir"
    # One redis-server per data folder: two on one AOF would corrupt it. The lock lives as long
    # as its file descriptor, which redis-server inherits, so a redis left running keeps it too.
    exec {redis_lock}>"$redis_dir/run.lock"
    if ! flock -n "$redis_lock"; then
        fail "another scripts/run.sh (or its redis-server) is using .run/redis/; stop it, or use --redis-url"
    fi
    # Config/redis.conf is the compose service's file (AOF, noeviction, …); the overrides make
    # it a private loopback instance for this run.
    start redis redis-server "$ROOT/Config/redis.conf" \
        --port "$redis_port" --bind 127.0.0.1 --dir "$redis_dir" \
        --protected-mode yes --daemonize no
    redis_pid=$started_pid
    # shellcheck disable=SC2016 # $1 is expanded by the inner bash
    wait_until 10 "$redis_pid" "answer to redis-cli ping" \
        bash -c '[[ $(redis-cli -p "$1" ping 2>/dev/null) == PONG ]]' _ "$redis_port"
    redis_url=redis://127.0.0.1:$redis_port
    redis_cli="redis-cli -p $redis_port"
else
    redis_cli="redis-cli -u $redis_url"
    [[ $(redis-cli -u "$redis_url" ping 2>/dev/null) == PONG ]] ||
        fail "no PONG from $redis_url (redis-cli -u $redis_url ping)"
fi

common=(--redis-url "$redis_url")
if [[ -n $config_file ]]; then common+=(--config "$config_file"); fi

# Edges. FANOUT_AGENT_PORT: each edge answers HAProxy's agent-check on this port (`up ready N%`,
# `drain`, `down`), which the local HAProxy below asks with more than one edge.
for ((i = 1; i <= edges; i++)); do
    edge_port=${edge_ports[i - 1]}
    start "edge-$i" env FANOUT_AGENT_PORT=$((edge_port + 1000)) \
        "$binary" edge "${common[@]}" --host 127.0.0.1 --port "$edge_port" --edge-id "edge-$i"
    app_pids+=("$started_pid")
done

# Workers. Each takes the first free metrics port in 9090-9099 (FANOUT_METRICS_PORT's default)
# and logs it; `fanout stats` lists them all.
for ((i = 1; i <= workers; i++)); do
    start "worker-$i" "$binary" worker "${common[@]}" --handler "$handler"
    app_pids+=("$started_pid")
done

# Ready: every edge answers /readyz with 200 (it is connected to Redis).
for ((i = 1; i <= edges; i++)); do
    wait_until 60 "${app_pids[i - 1]}" "200 from edge-$i /readyz" \
        ready "http://127.0.0.1:${edge_ports[i - 1]}/readyz"
done

# HAProxy in front of several edges, started once they are ready so that none of them begins
# its life marked DOWN.
if ((edges > 1)); then
    # One server line per edge, in the format the template's header describes, with an
    # agent-check on the port each edge's agent listener (FANOUT_AGENT_PORT above) answers: a
    # draining edge reports `drain` and gets no new clients. HAProxy 2.6 does not count a refused
    # agent connection as a failure (the server stays UP on its httpchk of /readyz, with agent
    # status L4CON). FANOUT_AGENT_CHECK=0 renders the lines without it.
    servers=
    for ((i = 1; i <= edges; i++)); do
        edge_port=${edge_ports[i - 1]}
        line="    server edge$i 127.0.0.1:$edge_port check"
        if [[ ${FANOUT_AGENT_CHECK:-1} != 0 ]]; then
            line+=" agent-check agent-port $((edge_port + 1000)) agent-inter 1s"
        fi
        servers+=${servers:+$'\n'}$line
    done
    mkdir -p "$ROOT/.run"
    SERVERS=$servers awk -v lb="$port" -v stats="$stats_port" '
        /^[ \t]*\{\{SERVERS\}\}[ \t]*$/ { print ENVIRON["SERVERS"]; next }
        { gsub(/\{\{LB_PORT\}\}/, lb); gsub(/\{\{STATS_PORT\}\}/, stats); print }
    ' Config/haproxy.local.cfg.template >"$ROOT/.run/haproxy.cfg"
    if grep -q '{{' "$ROOT/.run/haproxy.cfg"; then
        fail "Config/haproxy.local.cfg.template has a placeholder this script does not know"
    fi
    start lb haproxy -db -f "$ROOT/.run/haproxy.cfg"
    lb_pid=$started_pid
    # Ready when the stats CSV shows every edge UP (field 18 is the status).
    all_up() {
        local up
        up=$(curl -s -m 1 "http://127.0.0.1:$stats_port/;csv" |
            awk -F, '$1 == "edges" && $2 ~ /^edge[0-9]+$/ && $18 ~ /^UP/' | wc -l)
        ((up == edges))
    }
    wait_until 15 "$lb_pid" "'UP' for all $edges edges on the HAProxy stats page" all_up
    wait_until 5 "$lb_pid" "200 from HAProxy /readyz" ready "http://127.0.0.1:$port/readyz"
fi
for pid in "${app_pids[@]}"; do
    alive "$pid" || fail "${names[$pid]} exited during startup"
done

prefix=${FANOUT_KEY_PREFIX:-}
if [[ -z $prefix && -n $config_file ]]; then
    prefix=$(sed -nE 's/^[[:space:]]*FANOUT_KEY_PREFIX[[:space:]]*=[[:space:]]*"?([^"]*)"?[[:space:]]*$/\1/p' "$config_file" | tail -n 1)
fi
prefix=${prefix:-fanout}
stream=$prefix:inbound
display_binary=${binary#"$ROOT"/}

plural() { if (($1 == 1)); then echo "$1 $2"; else echo "$1 ${2}s"; fi; }
{
    echo
    echo "================================================================================"
    echo "  Fanout is running: $(plural "$edges" edge), $(plural "$workers" worker) ($handler), $build_config build"
    echo
    echo "  Open        http://127.0.0.1:$port/"
    echo "  WebSocket   ws://127.0.0.1:$port/ws"
    if ((edges > 1)); then
        echo "  HAProxy     stats page http://127.0.0.1:$stats_port/ (load balancer on :$port)"
        for ((i = 1; i <= edges; i++)); do
            echo "  edge-$i      http://127.0.0.1:${edge_ports[i - 1]}/readyz"
        done
    fi
    if ((sentinel)); then
        echo "  Redis       master :$redis_port, replicas :$((redis_port + 1)) :$((redis_port + 2)), data in .run/sentinel/"
        echo "  Sentinels   $redis_url"
        echo "  Failover    redis-cli -p $((redis_port + 20000)) sentinel failover fanout   (or kill the master)"
        echo "  Master now  redis-cli -p $((redis_port + 20000)) sentinel get-master-addr-by-name fanout"
    elif ((cluster)); then
        echo "  Redis       cluster of $cluster masters on :$redis_port-:$((redis_port + cluster - 1)), data in .run/cluster/"
        echo "  Partitions  FANOUT_STREAM_PARTITIONS=$FANOUT_STREAM_PARTITIONS (fanout stats shows each)"
        echo "  Reshard     redis-cli --cluster reshard 127.0.0.1:$redis_port"
    elif [[ -n $redis_pid ]]; then
        echo "  Redis       $redis_url (data in .run/redis/)"
    else
        echo "  Redis       $redis_url"
    fi
    echo
    echo "  Queue depth, consumer group, pending entries:"
    if ((cluster)); then
        # Partitioned streams are named with hash tags (fanout:inbound:{p0-13} …): fanout stats lists them.
        echo "    $redis_cli XINFO GROUPS STREAM   # STREAM: a partition's name from fanout stats"
    else
        echo "    $redis_cli XLEN $stream"
        echo "    $redis_cli XINFO GROUPS $stream"
        echo "    $redis_cli XPENDING $stream workers"
    fi
    stats_args="--redis-url $redis_url"
    if [[ $prefix != fanout ]]; then stats_args+=" --key-prefix $prefix"; fi
    # stats reads the same FANOUT_STREAM_PARTITIONS as edges and workers (else it looks at one stream).
    stats_env=""
    if [[ -n ${FANOUT_STREAM_PARTITIONS:-} ]]; then stats_env="FANOUT_STREAM_PARTITIONS=$FANOUT_STREAM_PARTITIONS "; fi
    echo "    $stats_env$display_binary stats $stats_args --watch"
    echo
    echo "  Ctrl-C stops everything."
    echo "================================================================================"
    echo
}
running=1

# Run until a signal arrives (on_signal exits) or a process ends on its own.
status=0
wait -n -p exited "${pids[@]}" || status=$?
if [[ -n ${exited:-} ]]; then
    say "${names[$exited]} exited unexpectedly (status $status); stopping the rest"
fi
exit 1
