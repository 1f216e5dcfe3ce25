# Sourced by scripts/run.sh --sentinel: starts a master on $redis_port, replicas on the next two
# ports and three sentinels on $redis_port + 20000 ... + 20002, all on 127.0.0.1, and sets
# redis_url (the sentinels, master name "fanout") and redis_cli for the summary.
#
# Each data node runs on its own copy of Config/redis.conf: after a failover, Sentinel sends
# CONFIG REWRITE to the nodes it reconfigures, which must never rewrite the repository's file.
# Sentinels rewrite their own config files too, so those are generated fresh under
# .run/sentinel/ each run, which also starts the data set empty: a master restarted from an old
# AOF next to replicas that were promoted meanwhile would only be confusing in a demo.
# Timings: down-after-milliseconds 5000, failover-timeout 10000 (the sentinel defaults are 30 s
# and 3 min); quorum 2 of 3.
# shellcheck shell=bash disable=SC2154,SC2034 # variables come from and go to scripts/run.sh

sentinel_dir=$ROOT/.run/sentinel
mkdir -p "$ROOT/.run"
# One run per folder, as for .run/redis/ (see scripts/run.sh).
exec {sentinel_lock}>"$ROOT/.run/sentinel.lock"
if ! flock -n "$sentinel_lock"; then
    fail "another scripts/run.sh --sentinel (or its redis-server) is using .run/sentinel/; stop it first"
fi
rm -rf "$sentinel_dir"
mkdir -p "$sentinel_dir"

for i in 0 1 2; do
    node_port=$((redis_port + i))
    node_dir=$sentinel_dir/redis-$node_port
    mkdir -p "$node_dir"
    cp "$ROOT/Config/redis.conf" "$node_dir/redis.conf"
    node_args=("$node_dir/redis.conf" --port "$node_port" --bind 127.0.0.1 --dir "$node_dir"
        --protected-mode no --daemonize no)
    if ((i == 0)); then
        name=redis
    else
        name=redis-replica-$i
        node_args+=(--replicaof 127.0.0.1 "$redis_port")
    fi
    start "$name" redis-server "${node_args[@]}"
    if ((i == 0)); then redis_pid=$started_pid; fi
    # shellcheck disable=SC2016 # $1 is expanded by the inner bash
    wait_until 10 "$started_pid" "answer to redis-cli ping" \
        bash -c '[[ $(redis-cli -p "$1" ping 2>/dev/null) == PONG ]]' _ "$node_port"
done

sentinel_ports=()
for i in 0 1 2; do
    sentinel_port=$((redis_port + 20000 + i))
    sentinel_ports+=("$sentinel_port")
    conf=$sentinel_dir/sentinel-$sentinel_port.conf
    cat >"$conf" <<CONF
port $sentinel_port
bind 127.0.0.1
protected-mode no
daemonize no
dir $sentinel_dir
sentinel monitor fanout 127.0.0.1 $redis_port 2
sentinel down-after-milliseconds fanout 5000
sentinel failover-timeout fanout 10000
sentinel parallel-syncs fanout 1
CONF
    start "sentinel-$((i + 1))" redis-sentinel "$conf"
done

# Ready once the first sentinel knows both replicas (in sync) and the two other sentinels: until
# then a failover could not reach its quorum or would have nobody to promote.
sentinel_settled() {
    local p=${sentinel_ports[0]} replicas peers
    replicas=$(redis-cli -p "$p" sentinel replicas fanout 2>/dev/null | grep -A1 -x 'master-link-status' | grep -cx 'ok' || true)
    peers=$(redis-cli -p "$p" sentinel sentinels fanout 2>/dev/null | grep -c '^name$' || true)
    ((replicas == 2 && peers == 2))
}
wait_until 30 "$started_pid" "sentinels that know both replicas and each other" sentinel_settled

redis_url="redis-sentinel://127.0.0.1:${sentinel_ports[0]},127.0.0.1:${sentinel_ports[1]},127.0.0.1:${sentinel_ports[2]}/fanout"
redis_cli="redis-cli -p $redis_port"
