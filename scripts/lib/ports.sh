# Loopback ports for the benchmark scripts (sourced, not run).

# free_port: a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_port PORT [WHO]: returns once something accepts on 127.0.0.1:PORT (at most 10 s), else exits 1.
wait_port() {
  for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done
  echo "${2:-${0##*/}}: nothing listens on $1" >&2
  exit 1
}
