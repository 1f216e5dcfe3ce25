#!/usr/bin/env python3
"""Load for scripts/bench-memory.sh: appends N inbound entries of S payload bytes straight to
<prefix>:inbound (the fields and `MAXLEN ~` an edge writes), in pipelined chunks, holding the
backlog (lag + pending of group `workers`) under a ceiling the way an edge's admission would.
Samples Redis's used_memory after every chunk, waits until the workers have drained the stream
and the trimmer has had `--settle` seconds, and prints one JSON object.

Plain sockets and RESP, no client library: nothing to install."""
import argparse, json, socket, time


class Redis:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.file = self.sock.makefile("rb", buffering=1 << 20)

    def read(self):
        line = self.file.readline()
        kind, rest = line[:1], line[1:-2]
        if kind in (b"+", b"-"):
            return rest.decode() if kind == b"+" else RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.file.read(n + 2)[:-2]
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise RuntimeError(f"bad reply {line!r}")

    def send(self, payload, replies):
        self.sock.sendall(payload)
        return [self.read() for _ in range(replies)]

    def call(self, *args):
        return self.send(encode(args), 1)[0]


def encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def backlog(r, key):
    groups = r.call("XINFO", "GROUPS", key)
    if isinstance(groups, RuntimeError):
        return 0
    for g in groups:
        f = dict(zip(g[0::2], g[1::2]))
        if f.get(b"name") == b"workers":
            lag = f.get(b"lag")
            return (lag if isinstance(lag, int) else r.call("XLEN", key)) + f.get(b"pending", 0)
    return r.call("XLEN", key)


def used_memory(r):
    info = r.call("INFO", "memory").decode()
    return int(next(l.split(":")[1] for l in info.splitlines() if l.startswith("used_memory:")))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--prefix", default="fanout")
    p.add_argument("--messages", type=int, default=1_000_000)
    p.add_argument("--bytes", type=int, default=1024)
    p.add_argument("--chunk", type=int, default=5_000)
    p.add_argument("--max-backlog", type=int, default=100_000)
    p.add_argument("--maxlen", type=int, default=1_000_000)
    p.add_argument("--settle", type=float, default=3.0)
    a = p.parse_args()
    r = Redis(a.port)
    key = f"{a.prefix}:inbound"
    payload = b"x" * a.bytes
    start, peak, sent = time.time(), used_memory(r), 0
    while sent < a.messages:
        n = min(a.chunk, a.messages - sent)
        at = str(int(time.time() * 1e6))
        batch = b"".join(
            encode(("XADD", key, "MAXLEN", "~", a.maxlen, "*", "v", "1", "kind", "message",
                    "conn", f"load.c{(sent + i) % 64}", "edge", "load", "type", "text", "at", at, "payload", payload))
            for i in range(n))
        for reply in r.send(batch, n):
            if isinstance(reply, RuntimeError):
                raise reply
        sent += n
        peak = max(peak, used_memory(r))
        while backlog(r, key) > a.max_backlog:
            time.sleep(0.02)
    loaded = time.time()
    while backlog(r, key) > 0:
        peak = max(peak, used_memory(r))
        time.sleep(0.05)
    drained = time.time()
    time.sleep(a.settle)
    print(json.dumps({
        "messages": a.messages, "payload_bytes": a.bytes, "xlen": r.call("XLEN", key),
        "used_memory": used_memory(r), "peak_used_memory": peak,
        "load_seconds": round(loaded - start, 1), "drain_seconds": round(drained - loaded, 1),
    }))


if __name__ == "__main__":
    main()
