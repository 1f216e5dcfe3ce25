"""A minimal Chrome DevTools protocol client for scripts/browser-test.py: one WebSocket to the
browser, pages as flat sessions (Target.attachToTarget with flatten), real input events.
Needs only the `websockets` package (13 or newer)."""

import asyncio
import json
import time

from websockets.asyncio.client import connect


class CDP:
    """Chrome DevTools protocol over one WebSocket; pages are flat sessions (Target.attachToTarget)."""

    def __init__(self):
        self.next_id = 0
        self.pending: dict[int, asyncio.Future] = {}
        self.exceptions: dict[str, list[str]] = {}   # session -> uncaught page exceptions
        self.console: dict[str, list[str]] = {}      # session -> console lines, for failure reports

    async def open(self, url: str):
        self.ws = await connect(url, max_size=None, ping_interval=None, open_timeout=10)
        self.reader = asyncio.create_task(self.read())

    async def read(self):
        async for raw in self.ws:
            message = json.loads(raw)
            if "id" in message:
                future = self.pending.pop(message["id"], None)
                if future and not future.done():
                    if "error" in message:
                        future.set_exception(RuntimeError(f"CDP error: {message['error']}"))
                    else:
                        future.set_result(message.get("result", {}))
                continue
            session, method, params = message.get("sessionId"), message.get("method"), message.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                text = details.get("exception", {}).get("description") or details.get("text", "?")
                self.exceptions.setdefault(session, []).append(text)
            elif method == "Runtime.consoleAPICalled":
                args = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
                self.console.setdefault(session, []).append(f"{params.get('type')}: {args}")

    async def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 10):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        future = asyncio.get_running_loop().create_future()
        self.pending[self.next_id] = future
        await self.ws.send(json.dumps(message))
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self.pending.pop(message["id"], None)

    async def close(self):
        try:
            await asyncio.wait_for(self.send("Browser.close"), 3)
        except Exception:
            pass  # the process is stopped anyway
        self.reader.cancel()
        await self.ws.close()


class Page:
    def __init__(self, cdp: CDP, name: str, session: str):
        self.cdp, self.name, self.session = cdp, name, session

    @classmethod
    async def open(cls, cdp: CDP, name: str, url: str) -> "Page":
        # A window of its own per page: both stay "visible", so neither is throttled as a background tab.
        target = await cdp.send("Target.createTarget", {"url": "about:blank", "newWindow": True})
        attached = await cdp.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})
        page = cls(cdp, name, attached["sessionId"])
        for method, params in [
            ("Runtime.enable", {}),
            ("Page.enable", {}),
            ("Emulation.setDeviceMetricsOverride", {"width": 900, "height": 720, "deviceScaleFactor": 1, "mobile": False}),
            ("Emulation.setFocusEmulationEnabled", {"enabled": True}),
            ("Page.navigate", {"url": url}),
        ]:
            await page.call(method, params)
        await page.wait("the page to load", "document.readyState === 'complete'", 15)
        return page

    async def call(self, method: str, params: dict | None = None, timeout: float = 10):
        return await self.cdp.send(method, params, self.session, timeout)

    async def eval(self, expression: str, timeout: float = 10):
        result = await self.call("Runtime.evaluate", {
            "expression": expression, "returnByValue": True, "awaitPromise": True}, timeout)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise RuntimeError(details.get("exception", {}).get("description") or details.get("text"))
        return result["result"].get("value")

    async def wait(self, description: str, expression: str, seconds: float = 15):
        deadline = time.monotonic() + seconds
        while True:
            value = await self.eval(expression)
            if value:
                return value
            if time.monotonic() >= deadline:
                raise TimeoutError(f"page {self.name}: no {description} after {seconds:g} s")
            await asyncio.sleep(0.1)

    async def type_into(self, element_id: str, text: str):
        """Focuses the field, selects what it holds, and types over it (real input events)."""
        await self.eval(f"(e => (e.focus(), e.select(), true))(document.getElementById({json.dumps(element_id)}))")
        await self.call("Input.insertText", {"text": text})

    async def click(self, element_id: str):
        """A left click at the element's centre, as the mouse would, so a disabled button stays unclicked."""
        box = await self.eval(f"""(() => {{
            const e = document.getElementById({json.dumps(element_id)});
            e.scrollIntoView({{block: "center"}});
            const r = e.getBoundingClientRect();
            return {{x: r.left + r.width / 2, y: r.top + r.height / 2}};
        }})()""")
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            await self.call("Input.dispatchMouseEvent", {
                "type": kind, "x": box["x"], "y": box["y"], "button": "left" if kind != "mouseMoved" else "none",
                "clickCount": 1 if kind != "mouseMoved" else 0})

    def messages_js(self) -> str:
        return "[...document.querySelectorAll('#messages li')].map(li => li.textContent)"

    async def diagnostics(self) -> str:
        try:
            state = await self.eval("document.getElementById('state').textContent", 3)
            lines = await self.eval(self.messages_js(), 3)
        except Exception as error:
            return f"page {self.name}: no diagnostics ({error})"
        console = self.cdp.console.get(self.session, [])[-10:]
        return (f"page {self.name}: state {state}; last lines: {lines[-8:]}"
                + (f"; console: {console}" if console else ""))
