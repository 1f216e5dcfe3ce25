# Sourced by scripts/run.sh --cluster N: starts N Redis Cluster masters on $redis_port …
# $redis_port + N - 1 (cluster bus on +10000, as Redis defaults), all on 127.0.0.1, joins them
# with `redis-cli --cluster create`, and sets redis_url (redis-cluster://, every node a seed),
# redis_cli for the summary, and FANOUT_STREAM_PARTITIONS (2 per shard unless already set) for
# every fanout process.
#
# Each node runs on its own copy of Config/redis.conf with cluster mode on, and starts empty:
# a node's nodes.conf pins its identity and slots, which a fresh demo must not inherit.
# cluster-require-full-coverage no: while one shard fails over, the others keep serving
# (Docs/operations.md, "Redis Cluster"). cluster-node-timeout 5000 (the default is 15 s).
# shellcheck shell=bash disable=SC2154,SC2034 # variables come from and go to scripts/run.sh

cluster_dir=$ROOT/.run/cluster
mkdir -p "$ROOT/.run"
# One run per folder, as for .run/redis/ (see scripts/run.sh).
exec {cluster_lock}>"$ROOT/.run/cluster.lock"
if ! flock -n "$cluster_lock"; then
    fail "another scripts/run.sh --cluster (or its redis-server) is using .run/cluster/; stop it first"
fi
rm -rf "$cluster_dir"
mkdir -p "$cluster_dir"

cluster_nodes=()
for ((i = 0; i < cluster; i++)); do
    node_port=$((redis_port + i))
    node_dir=$cluster_dir/redis-$node_port
    mkdir -p "$node_dir"
    cp "$ROOT/Config/redis.conf" "$node_dir/redis.conf"
    start "redis-$((i + 1))" redis-server "$node_dir/redis.conf" --port "$node_port" --bind 127.0.0.1 --dir "$node_dir" \
        --protected-mode no --daemonize no --cluster-enabled yes --cluster-config-file nodes.conf \
        --cluster-node-timeout 5000 --cluster-require-full-coverage no
    if ((i == 0)); then redis_pid=$started_pid; fi
    # shellcheck disable=SC2016 # $1 is expanded by the inner bash
    wait_until 10 "$started_pid" "answer to redis-cli ping" \
        bash -c '[[ $(redis-cli -p "$1" ping 2>/dev/null) == PONG ]]' _ "$node_port"
    cluster_nodes+=("127.0.0.1:$node_port")
done

say "creating the cluster: ${cluster_nodes[*]}"
redis-cli --cluster create "${cluster_nodes[@]}" --cluster-replicas 0 --cluster-yes >"$cluster_dir/create.log" 2>&1 ||
    fail "redis-cli --cluster create failed (see .run/cluster/create.log)"
cluster_settled() {
    local node
    for node in "${cluster_nodes[@]}"; do
        redis-cli -p "${node##*:}" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
    done
}
wait_until 30 "$redis_pid" "cluster_state:ok on every node" cluster_settled

redis_url="redis-cluster://$(IFS=,; echo "${cluster_nodes[*]}")"
redis_cli="redis-cli -c -p $redis_port"
export FANOUT_STREAM_PARTITIONS=${FANOUT_STREAM_PARTITIONS:-$((2 * cluster))}
