"""The browser test's driver, run by scripts/browser-test.sh (which installs what it needs and builds
`fanout` first). Read the header of browser-test.sh for what it checks.

    python3 scripts/browser-test.py --fanout PATH --chromium PATH --out DIR

It starts every process itself (redis-server, two edges, one chat worker, headless Chromium),
each in its own session, records their PIDs in DIR/pids (so the shell script's EXIT trap can end
any that outlive this process), and stops them all on every exit path. It talks to Chromium over
the DevTools protocol (scripts/cdp.py: one WebSocket, flat sessions per page) and drives the demo
pages through real input events: Input.insertText into the fields, Input.dispatchMouseEvent on
the buttons.

Every wait polls with a deadline. Prints one line per check, then `browser-test: N passed, M failed`.
"""

import argparse
import asyncio
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from cdp import CDP, Page

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "browser-test"
# The caller's FANOUT_* settings (a drain delay, a config file, limits) would change what the
# processes do; only the log settings pass through, so FANOUT_LOG_LEVEL=debug still helps debugging.
CHILD_ENVIRONMENT = {k: v for k, v in os.environ.items()
                     if not k.startswith("FANOUT_") or k in ("FANOUT_LOG_LEVEL", "FANOUT_LOG_FORMAT")}


class Processes:
    """Children in their own sessions, so a whole process group (Chromium's helpers) is signalled."""

    def __init__(self, out: Path):
        self.out = out
        self.logs = out / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.pidfile = out / "pids"
        self.pidfile.write_text("")
        self.running: dict[str, subprocess.Popen] = {}
        self.incarnations: dict[str, int] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        count = self.incarnations.get(name, 0) + 1
        self.incarnations[name] = count
        log = open(self.logs / (f"{name}.log" if count == 1 else f"{name}.{count}.log"), "wb")
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, env={**CHILD_ENVIRONMENT, **(env or {})})
        log.close()
        self.running[name] = process
        with open(self.pidfile, "a") as f:
            f.write(f"{process.pid}\n")
        return process

    def alive(self, name: str) -> bool:
        process = self.running.get(name)
        return process is not None and process.poll() is None

    def stop(self, names: list[str], seconds: float) -> list[str]:
        """SIGTERM to each group, up to `seconds` for all to exit, then SIGKILL. Returns the names
        of those that were still running when SIGKILL came."""
        named = [(n, self.running.pop(n)) for n in names if n in self.running]
        processes = [process for _, process in named]
        for process in processes:
            signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + seconds
        for process in processes:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        killed = [name for name, process in named if process.poll() is None]
        for process in processes:
            signal_group(process, signal.SIGKILL)  # leftovers in the group, or the process itself
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                print(f"browser-test: pid {process.pid} survived SIGKILL", file=sys.stderr)
        # Only live PIDs stay listed: the shell's trap must never signal a reused PID.
        self.pidfile.write_text("".join(f"{p.pid}\n" for p in self.running.values()))
        return killed

    def stop_all(self) -> None:
        # Chromium first, then edges and worker (they drain), Redis last so they never see it vanish.
        self.stop([n for n in self.running if n == "chromium"], 5)
        self.stop([n for n in self.running if n not in ("chromium", "redis")], 15)
        self.stop(list(self.running), 5)


def signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)  # the child leads its own session, so its group ID is its PID
    except (ProcessLookupError, PermissionError):
        pass


def free_ports(count: int) -> list[int]:
    """Ports the kernel picked, all held open until all are chosen so they differ."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def wait_until(description: str, seconds: float, probe, alive=lambda: True, interval: float = 0.1):
    deadline = time.monotonic() + seconds
    while True:
        result = probe()
        if result:
            return result
        if not alive():
            raise RuntimeError(f"a process exited before {description}")
        if time.monotonic() >= deadline:
            raise TimeoutError(f"no {description} after {seconds:g} s")
        time.sleep(interval)


def http_get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {}, b""
    except OSError:
        return 0, {}, b""


def redis_cli(port: int, *args: str) -> str:
    try:
        return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True, timeout=3).stdout
    except subprocess.TimeoutExpired:
        return ""


def has_chat(name: str, text: str, from_edge: str | None = None) -> str:
    """JS: does #messages hold `text` from `name` (optionally from a connection on `from_edge`)?"""
    edge = "" if from_edge is None else f" && li.dataset.from.startsWith({json.dumps(from_edge + '.')})"
    return (f"[...document.querySelectorAll('#messages li.message')].some(li => "
            f"li.querySelector('.name').textContent === {json.dumps(name)} && "
            f"li.querySelector('.text').textContent === {json.dumps(text)}{edge})")


def count_lines(text: str) -> str:
    return f"[...document.querySelectorAll('#messages li.system')].filter(li => li.textContent === {json.dumps(text)}).length"


class Checks:
    def __init__(self):
        self.passed = self.failed = 0

    def record(self, name: str, ok: bool, detail: str = ""):
        if ok:
            self.passed += 1
            print(f"browser-test: ok   {name}", flush=True)
        else:
            self.failed += 1
            print(f"browser-test: FAIL {name}{': ' + detail if detail else ''}", flush=True)


async def drive(args, procs: Processes, checks: Checks, ports: dict[str, int], restart_edge2):
    edge1, edge2 = (f"http://127.0.0.1:{ports[e]}" for e in ("edge1", "edge2"))

    # The files, straight over HTTP: content types, and the library byte for byte as in Clients/js/.
    for path, source, content_type in [
        ("/", ROOT / "Clients/demo/index.html", "text/html"),
        ("/fanout.js", ROOT / "Clients/js/fanout.js", "application/javascript"),
        ("/fanout.mjs", ROOT / "Clients/js/fanout.mjs", "application/javascript"),
    ]:
        status, headers, body = http_get(edge1 + path)
        expected = source.read_bytes()
        checks.record(
            f"GET {path} serves {source.relative_to(ROOT)} byte for byte as {content_type}",
            status == 200 and headers.get("content-type", "").startswith(content_type) and body == expected,
            f"status {status}, content-type {headers.get('content-type')}, {len(body)} bytes "
            f"(file: {len(expected)}){'' if body == expected else '; bytes differ: run bash scripts/embed-web-assets.sh'}")

    # The profile lives in the output folder, which the shell script empties before each run.
    chromium_dir = Path(args.out) / "chromium-profile"
    chromium_dir.mkdir()
    try:
        procs.start("chromium", [
            args.chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", f"--user-data-dir={chromium_dir}",
            "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-sync",
            "--disable-background-networking", "--disable-component-update", "--disable-default-apps",
            "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
            "--disable-backgrounding-occluded-windows", "--mute-audio", "--hide-scrollbars", "about:blank"])
        # Chromium writes the port it picked, and the browser target's path, to DevToolsActivePort.
        active = chromium_dir / "DevToolsActivePort"
        lines = await asyncio.to_thread(
            wait_until, "DevToolsActivePort from chromium", 30,
            lambda: active.exists() and len(active.read_text().split()) >= 2 and active.read_text().split(),
            lambda: procs.alive("chromium"))
        cdp = CDP()
        await cdp.open(f"ws://127.0.0.1:{lines[0]}{lines[1]}")
        try:
            await scenario(cdp, checks, edge1, edge2, restart_edge2)
        finally:
            await cdp.close()
    finally:
        procs.stop(["chromium"], 5)
        shutil.rmtree(chromium_dir, ignore_errors=True)


async def scenario(cdp: CDP, checks: Checks, edge1: str, edge2: str, restart_edge2):
    pages: list[Page] = []
    # Each step depends on the one before; the first failure ends the scenario (counted as one).
    step = "open page A on edge 1"
    try:
        a = await Page.open(cdp, "A", edge1 + "/")
        pages.append(a)
        await a.wait("'open' state", "document.getElementById('state').textContent === 'open'")
        checks.record("page A (edge 1) loads fanout.js and connects to /ws", True)

        step = "open page B on edge 2"
        b = await Page.open(cdp, "B", edge2 + "/")
        pages.append(b)
        await b.wait("'open' state", "document.getElementById('state').textContent === 'open'")
        checks.record("page B (edge 2) loads fanout.js and connects to /ws", True)

        step = "library checks in page A"
        closed_port = free_ports(1)[0]
        result = await a.eval(f"""(async () => {{
            const r = {{}};
            const idle = new Fanout.FanoutClient("ws://127.0.0.1:{closed_port}/ws", {{reconnect: false}});
            try {{ idle.send("x"); r.send = "sent"; }} catch (e) {{ r.send = e.name + ":" + e.code; }}
            r.backoff = true;
            for (let n = 0; n < 12; n++) for (let i = 0; i < 500; i++) {{
                const d = Fanout.backoffDelay(n, 500, 30000);
                if (!(d >= 0 && d <= Math.min(30000, 500 * 2 ** n))) r.backoff = false;
            }}
            const closes = [];
            const retrying = new Fanout.FanoutClient("ws://127.0.0.1:{closed_port}/ws", {{
                reconnect: {{initialMs: 50, maxMs: 200}}, onClose: e => closes.push(e)}}).connect();
            const deadline = Date.now() + 5000;
            while (closes.length < 3 && Date.now() < deadline) await new Promise(f => setTimeout(f, 25));
            retrying.close();
            r.closes = closes.map(e => [e.code, e.reconnecting, e.delayMs]);
            r.afterClose = retrying.state;
            const m = await import("/fanout.mjs");
            r.module = typeof m.FanoutClient === "function" && typeof m.default.backoffDelay === "function";
            return r;
        }})()""", 15)
        checks.record("send() while not connected throws FanoutError not_open",
                      result["send"] == "FanoutError:not_open", str(result["send"]))
        checks.record("backoff delays stay in [0, min(max, initial*2^n)]", result["backoff"] is True)
        caps = [50, 100, 200]
        closes = result["closes"]
        checks.record(
            "a refused connection is retried with growing backoff (1006, reconnecting)",
            len(closes) >= 3 and all(c[0] == 1006 and c[1] is True and 0 <= c[2] <= caps[i] for i, c in enumerate(closes[:3])),
            str(closes))
        checks.record("close() stops reconnecting (state 'closed')", result["afterClose"] == "closed", result["afterClose"])
        checks.record("fanout.mjs imports as an ES module", result["module"] is True)

        step = "join room demo"
        for page, name in ((a, "alice"), (b, "bob")):
            await page.type_into("name", name)
            await page.type_into("room", "demo")
            await page.click("join")
        for page in (a, b):
            await page.wait("'Room: demo'", "document.getElementById('room-bar').textContent === 'Room: demo'")
            await page.wait("an enabled Send button", "!document.getElementById('send').disabled")
        checks.record("A and B join room 'demo' through the form", True)

        step = "send from A, receive on B"
        text = f"hello from A {os.getpid()}"
        await a.type_into("text", text)
        await a.click("send")
        await b.wait("A's message", has_chat("alice", text, from_edge="edge-1"))
        checks.record("A's message reaches B on the other edge (from a connection on edge-1)", True)
        await a.wait("its own message", has_chat("alice", text))
        checks.record("A sees its own message (sender included)", True)
        await a.wait("an emptied text field", "document.getElementById('text').value === ''", 5)

        step = "restart edge 2"
        await asyncio.to_thread(restart_edge2, "stop")
        await b.wait("the 1001 notice", count_lines("Disconnected (edge going away). Reconnecting…"), 15)
        checks.record("B sees edge 2 go away (1001) and schedules a reconnect", True)
        missed = f"while B was away {os.getpid()}"
        await a.type_into("text", missed)
        await a.click("send")
        await a.wait("its message sent while B is away", has_chat("alice", missed))
        await asyncio.to_thread(restart_edge2, "start")
        await b.wait("a rejoin", count_lines("You joined demo.") + " >= 2", 30)
        await b.wait("'open' state", "document.getElementById('state').textContent === 'open'", 5)
        checks.record("B reconnects to the restarted edge 2 and joins 'demo' again", True)
        await b.wait("the missed message, marked recovered", has_chat("alice", missed) + " && " + (
            "[...document.querySelectorAll('#messages li.message.recovered .text')].some(t => t.textContent === "
            + json.dumps(missed) + ")"), 15)
        checks.record("B's rejoin names the last offset it saw: the message sent while it was away is shown, marked recovered", True)

        step = "messages after the reconnect"
        again = f"after the restart {os.getpid()}"
        await a.type_into("text", again)
        await a.click("send")
        await b.wait("A's second message", has_chat("alice", again, from_edge="edge-1"))
        reply = f"bob is back {os.getpid()}"
        await b.type_into("text", reply)
        await b.click("send")
        await a.wait("B's reply", has_chat("bob", reply, from_edge="edge-2"))
        checks.record("after the reconnect A and B chat both ways", True)

        step = "screenshot"
        shot = await b.call("Page.captureScreenshot", {"format": "png"}, 20)
        path = ROOT / ".run" / "browser-test.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        checks.record(f"screenshot of page B in {path.relative_to(ROOT)}", path.stat().st_size > 1000)
        step = None
    except Exception as error:
        checks.record(f"{step}", False, f"{type(error).__name__}: {error}")
        for page in pages:
            print("browser-test:   " + await page.diagnostics(), flush=True)
    for page in pages:
        errors = cdp.exceptions.get(page.session, [])
        checks.record(f"no uncaught JavaScript errors in page {page.name}", not errors, "; ".join(errors[:3]))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fanout", required=True)
    parser.add_argument("--chromium", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    out = Path(args.out)
    # SIGTERM (the shell script's trap, a CI timeout) ends the run like Ctrl-C: through `finally`.
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    procs = Processes(out)
    checks = Checks()
    started = time.monotonic()
    try:
        redis_port, edge1_port, edge2_port = free_ports(3)
        ports = {"edge1": edge1_port, "edge2": edge2_port}
        redis_dir = out / "redis"
        redis_dir.mkdir(exist_ok=True)
        procs.start("redis", ["redis-server", "--bind", "127.0.0.1", "--port", str(redis_port), "--save", "",
                              "--appendonly", "no", "--dir", str(redis_dir)])
        wait_until("PONG from redis", 10, lambda: redis_cli(redis_port, "ping").strip() == "PONG",
                   lambda: procs.alive("redis"))
        common = ["--redis-url", f"redis://127.0.0.1:{redis_port}", "--key-prefix", PREFIX]

        def start_edge(number: int):
            procs.start(f"edge{number}", [args.fanout, "edge", *common, "--host", "127.0.0.1",
                                          "--port", str(ports[f"edge{number}"]), "--edge-id", f"edge-{number}"])

        def edge_ready(number: int):
            wait_until(f"200 from edge-{number} /readyz", 60,
                       lambda: http_get(f"http://127.0.0.1:{ports[f'edge{number}']}/readyz")[0] == 200,
                       lambda: procs.alive(f"edge{number}"))

        start_edge(1)
        start_edge(2)
        procs.start("worker", [args.fanout, "worker", *common, "--handler", "chat", "--metrics-port", "0"])
        edge_ready(1)
        edge_ready(2)
        # The worker is up once it has created its consumer group.
        wait_until("consumer group from the worker", 60,
                   lambda: "workers" in redis_cli(redis_port, "xinfo", "groups", f"{PREFIX}:inbound").split(),
                   lambda: procs.alive("worker"))
        print(f"browser-test: redis :{redis_port}, edge-1 :{edge1_port}, edge-2 :{edge2_port}, chat worker; "
              f"logs in {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}/logs", flush=True)

        def restart_edge2(action: str):
            if action == "stop":
                # SIGTERM: the edge drains and closes its WebSockets with 1001. Not a check of its own
                # (this test is about the browser side), but a slow exit is reported.
                if procs.stop(["edge2"], 8):
                    print("browser-test: note: edge-2 had not exited 8 s after SIGTERM; stopped with SIGKILL "
                          "(an idle browser connection that never sent a request holds the edge's HTTP server)",
                          flush=True)
            else:
                start_edge(2)
                edge_ready(2)

        asyncio.run(drive(args, procs, checks, ports, restart_edge2))
    except KeyboardInterrupt:
        checks.record("run", False, "interrupted")
    except Exception as error:
        checks.record("setup", False, f"{type(error).__name__}: {error} (logs: {procs.logs})")
    finally:
        procs.stop_all()
    print(f"browser-test: took {time.monotonic() - started:.1f} s", flush=True)
    print(f"browser-test: {checks.passed} passed, {checks.failed} failed", flush=True)
    return 1 if checks.failed or not checks.passed else 0


if __name__ == "__main__":
    sys.exit(main())
