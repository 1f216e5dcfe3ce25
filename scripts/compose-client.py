#!/usr/bin/env python3
"""WebSocket client and checks for scripts/compose-test.sh.

Talks only to the ports the compose stack publishes on 127.0.0.1 (HAProxy 8080/8443/8404,
Prometheus 9091), and runs `docker` / `docker-compose` for the one action a check needs in its
middle (killing a worker, stopping an edge), with the project the caller exported
(COMPOSE_PROJECT_NAME, COMPOSE_FILE). Each subcommand prints what it measured as `key: value`
lines and exits 1 when a check fails. Every wait is bounded.

Debian's python3-websockets (10.x) provides the WebSocket client.
"""
import argparse
import asyncio
import csv
import io
import json
import ssl
import subprocess
import sys
import time
import urllib.request

import websockets

HAPROXY_STATS = "http://127.0.0.1:8404/;csv"
PROMETHEUS_TARGETS = "http://127.0.0.1:9091/api/v1/targets"


def fail(message):
    print(f"FAIL: {message}", flush=True)
    sys.exit(1)


def say(key, value):
    print(f"{key}: {value}", flush=True)


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read().decode()


def haproxy_servers():
    """The edge servers HAProxy has an address for: name -> {status, scur, stot, addr}."""
    rows = csv.DictReader(io.StringIO(http_get(HAPROXY_STATS).lstrip("# ")))
    return {
        row["svname"]: {"status": row["status"], "scur": int(row["scur"] or 0), "stot": int(row["stot"] or 0),
                        "addr": row.get("addr", "")}
        for row in rows
        if row["pxname"] == "edges" and row["svname"] not in ("FRONTEND", "BACKEND") and row.get("addr")
    }


def ssl_context(cafile):
    if not cafile:
        return None
    context = ssl.create_default_context(cafile=cafile)
    context.check_hostname = False  # the self-signed certificate names localhost; we dial 127.0.0.1
    return context


async def connect(url, cafile=None):
    # No Origin header: the edge allows a missing Origin. Ping interval off: the edge pings us.
    return await websockets.connect(url, ssl=ssl_context(cafile), open_timeout=10, ping_interval=None,
                                    max_size=2**20, close_timeout=5)


async def echo_round(client, tag, count, timeout=30):
    """Sends `count` distinct texts and checks each comes back exactly, in order."""
    texts = [f"{tag}-{i}" for i in range(count)]
    for text in texts:
        await client.send(text)
    for text in texts:
        got = await asyncio.wait_for(client.recv(), timeout)
        if got != text:
            fail(f"{tag}: expected echo {text!r}, got {got!r}")
    return count


# ----------------------------------------------------------------- echo ---
async def cmd_echo(args):
    clients = [await connect(args.url, args.cafile) for _ in range(args.clients)]
    try:
        answered = 0
        for index, client in enumerate(clients):
            answered += await echo_round(client, f"{args.tag}{index}", args.messages)
        sent = args.clients * args.messages
        say("url", args.url)
        say("sent", sent)
        say("answered", answered)
        if args.edges:
            # Every client is still connected: HAProxy's current sessions per edge show where each went.
            used = {name: s["scur"] for name, s in haproxy_servers().items() if s["scur"] > 0}
            say("edges used (HAProxy scur)", " ".join(f"{n}={c}" for n, c in sorted(used.items())))
            if len(used) < args.edges:
                fail(f"clients reached {len(used)} edge(s), want {args.edges}")
    finally:
        for client in clients:
            await client.close()


# ---------------------------------------------------------------- flood ---
async def cmd_flood(args):
    """A backlog: every message sent at once, far faster than the delay handler answers; the time
    from the first send to the last answer is how long the workers took to drain it."""
    clients = [await connect(args.url) for _ in range(args.clients)]
    expected = {i: [f"f{i}-{n}" for n in range(args.messages)] for i in range(args.clients)}
    started = time.monotonic()

    async def send_all(i, client):
        for text in expected[i]:
            await client.send(text)

    await asyncio.gather(*(send_all(i, c) for i, c in enumerate(clients)))
    sent_in = time.monotonic() - started
    depth = subprocess.run(
        ["docker-compose", "exec", "-T", "redis", "redis-cli", "XINFO", "GROUPS", "fanout:inbound"],
        capture_output=True, text=True, timeout=60).stdout

    async def receive_all(i, client):
        got = []
        for _ in expected[i]:
            got.append(await asyncio.wait_for(client.recv(), args.timeout))
        # One worker keeps a connection's order; several may overlap two of its messages.
        if sorted(got) != sorted(expected[i]):
            fail(f"client {i}: answers differ from what it sent")
        return len(got)

    answered = sum(await asyncio.gather(*(receive_all(i, c) for i, c in enumerate(clients))))
    drained = time.monotonic() - started
    for client in clients:
        await client.close()
    say("sent", args.clients * args.messages)
    say("answered", answered)
    say("sent within (s)", f"{sent_in:.2f}")
    say("queue right after sending (XINFO GROUPS fanout:inbound)", " ".join(depth.split()))
    say("drained in (s)", f"{drained:.2f}")
    if args.json_out:
        with open(args.json_out, "w") as out:
            json.dump({"sent": args.clients * args.messages, "answered": answered, "seconds": drained}, out)


# ----------------------------------------------------- kill under load ---
async def cmd_load(args):
    """Steady load from several clients; `--during` runs once a third of the sending is done.
    Every message must be answered: at least once (a killed worker's entries are reclaimed)."""
    clients = [await connect(args.url) for _ in range(args.clients)]
    answers = [dict() for _ in clients]
    sent = [0] * len(clients)
    total = args.clients * args.messages

    async def reader(i, client):
        try:
            async for text in client:
                answers[i][text] = answers[i].get(text, 0) + 1
        except websockets.ConnectionClosed:
            pass

    async def writer(i, client):
        for n in range(args.messages):
            await client.send(f"k{i}-{n}")
            sent[i] += 1
            await asyncio.sleep(args.interval)

    readers = [asyncio.create_task(reader(i, c)) for i, c in enumerate(clients)]
    writers = [asyncio.create_task(writer(i, c)) for i, c in enumerate(clients)]
    while sum(sent) < total // 3:
        await asyncio.sleep(0.05)
    action = subprocess.run(args.during, shell=True, capture_output=True, text=True, timeout=120)
    say("during the load", f"{args.during} -> exit {action.returncode} {action.stdout.strip()} {action.stderr.strip()}")
    sent_at_action = sum(sent)
    await asyncio.gather(*writers)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if all(len(a) == args.messages for a in answers):
            break
        await asyncio.sleep(0.1)
    for client in clients:
        await client.close()
    await asyncio.gather(*readers)
    unique = sum(len(a) for a in answers)
    duplicates = sum(c - 1 for a in answers for c in a.values())
    say("sent", sum(sent))
    say("sent before the action", sent_at_action)
    say("answered (distinct)", unique)
    say("answered twice or more (at-least-once redeliveries)", duplicates)
    say("lost", sum(sent) - unique)
    if unique != sum(sent):
        fail(f"{sum(sent) - unique} of {sum(sent)} messages never answered within {args.timeout} s")


# ---------------------------------------------------------- edge drain ---
def compose_edge_containers():
    ids = subprocess.run(["docker-compose", "ps", "-q", "edge"], capture_output=True, text=True, check=True).stdout.split()
    result = {}
    for cid in ids:
        info = json.loads(subprocess.run(["docker", "inspect", cid], capture_output=True, text=True, check=True).stdout)[0]
        if not info["State"]["Running"]:
            continue
        for network in info["NetworkSettings"]["Networks"].values():
            result[network["IPAddress"]] = cid
    return result


async def cmd_drain(args):
    """Clients on every edge; one edge container is stopped (SIGTERM). Its clients must get close
    1001, the others must stay served, and clients arriving once HAProxy saw the drain must land
    on the other edges and be answered."""
    clients = [await connect(args.url) for _ in range(args.clients)]
    for i, client in enumerate(clients):
        await echo_round(client, f"d{i}", 1)
    servers = haproxy_servers()
    by_ip = compose_edge_containers()
    target_name, target = max(((n, s) for n, s in servers.items() if s["scur"] > 0), key=lambda item: item[1]["scur"])
    target_ip = target["addr"].rsplit(":", 1)[0]
    container = by_ip.get(target_ip)
    if container is None:
        fail(f"no running edge container has HAProxy's address {target_ip} for {target_name}")
    on_target = target["scur"]
    say("clients per edge before (HAProxy scur)", " ".join(f"{n}={s['scur']}" for n, s in sorted(servers.items()) if s["status"] != "MAINT"))
    say("stopping", f"{target_name} (container {container[:12]}, {on_target} clients) with docker stop")

    closes = {}

    async def watch(i, client):
        try:
            async for _ in client:
                pass
        except websockets.ConnectionClosed:
            pass
        closes[i] = client.close_code  # only reached when the connection closed (cancel skips it)

    watchers = [asyncio.create_task(watch(i, c)) for i, c in enumerate(clients)]
    stop = await asyncio.create_subprocess_exec("docker", "stop", "--time", "30", container,
                                                stdout=asyncio.subprocess.DEVNULL)
    # HAProxy learns of the drain from the edge's agent (`drain`, every 2 s: status DRAIN) or from
    # /readyz answering 503 (two failed checks: DOWN). Until then (status UP, or "UP 1/2" between
    # two checks) it may still send a new client there, which the edge refuses with 503.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status = haproxy_servers().get(target_name, {}).get("status", "gone")
        if not status.startswith("UP"):
            break
        await asyncio.sleep(0.1)
    say("HAProxy status of the stopped edge", status)
    if status.startswith("UP"):
        fail("HAProxy still sends new clients to the draining edge after 20 s")
    before = {n: s["stot"] for n, s in haproxy_servers().items()}
    newcomers = [await connect(args.url) for _ in range(args.newcomers)]
    for i, client in enumerate(newcomers):
        await echo_round(client, f"n{i}", 1)
    after = {n: s["stot"] for n, s in haproxy_servers().items()}
    to_target = after.get(target_name, before.get(target_name, 0)) - before.get(target_name, 0)
    say("new clients during the drain", f"{args.newcomers} connected and answered, {to_target} of them sent to the draining edge")
    if to_target:
        fail(f"{to_target} new clients went to the draining edge")
    await asyncio.wait_for(stop.wait(), 60)
    # The stopped edge's clients got their close; nobody else did.
    deadline = time.monotonic() + 10
    while len(closes) < on_target and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # a close that should not come would come now, with the others
    for watcher in watchers:
        watcher.cancel()
    await asyncio.gather(*watchers, return_exceptions=True)
    closed = dict(closes)
    survivors = [c for i, c in enumerate(clients) if i not in closed]
    codes = list(closed.values())
    say("close codes received", " ".join(f"{code}x{codes.count(code)}" for code in sorted(set(codes))) or "none")
    say("clients still open", len(survivors))
    if len(closed) != on_target or any(code != 1001 for code in codes):
        fail(f"want exactly the {on_target} clients of the stopped edge closed with 1001, got {closed}")
    for i, client in enumerate(survivors):
        await echo_round(client, f"s{i}", 1)
    say("clients of the other edges", f"{len(survivors)} still answered after the drain")
    for client in survivors + newcomers:
        await client.close()


# ----------------------------------------------------------- prometheus ---
def cmd_targets(args):
    """Waits until Prometheus has every edge and worker as a healthy target."""
    want = {"edge": args.edges, "worker": args.workers}
    deadline = time.monotonic() + args.timeout
    counts = {}
    while time.monotonic() < deadline:
        try:
            targets = json.loads(http_get(PROMETHEUS_TARGETS))["data"]["activeTargets"]
        except OSError:
            targets = []
        counts = {}
        for target in targets:
            job, health = target["labels"]["job"], target["health"]
            counts[(job, health)] = counts.get((job, health), 0) + 1
        if all(counts.get((job, "up"), 0) == n and sum(v for (j, _), v in counts.items() if j == job) == n
               for job, n in want.items()):
            break
        time.sleep(1)  # Prometheus scrapes every 5 s and re-resolves DNS every 10 s
    say("prometheus targets", " ".join(f"{job}/{health}={n}" for (job, health), n in sorted(counts.items())))
    for job, n in want.items():
        if counts.get((job, "up"), 0) != n:
            fail(f"want {n} {job} targets up in Prometheus, have {counts}")


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("echo")
    p.add_argument("--url", required=True)
    p.add_argument("--cafile")
    p.add_argument("--clients", type=int, default=2)
    p.add_argument("--messages", type=int, default=5)
    p.add_argument("--edges", type=int, default=0, help="how many edges the clients must reach")
    p.add_argument("--tag", default="e")
    p = sub.add_parser("flood")
    p.add_argument("--url", required=True)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--messages", type=int, default=40)
    p.add_argument("--timeout", type=float, default=120)
    p.add_argument("--json-out")
    p = sub.add_parser("load")
    p.add_argument("--url", required=True)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--messages", type=int, default=100)
    p.add_argument("--interval", type=float, default=0.02)
    p.add_argument("--during", required=True)
    p.add_argument("--timeout", type=float, default=90)
    p = sub.add_parser("drain")
    p.add_argument("--url", required=True)
    p.add_argument("--clients", type=int, default=9)
    p.add_argument("--newcomers", type=int, default=4)
    p = sub.add_parser("targets")
    p.add_argument("--edges", type=int, required=True)
    p.add_argument("--workers", type=int, required=True)
    p.add_argument("--timeout", type=float, default=90)
    args = parser.parse_args()
    if args.command == "targets":
        cmd_targets(args)
    else:
        asyncio.run({"echo": cmd_echo, "flood": cmd_flood, "load": cmd_load, "drain": cmd_drain}[args.command](args))


if __name__ == "__main__":
    main()
