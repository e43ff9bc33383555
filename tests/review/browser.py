"""Headless Chromium driven over the DevTools protocol (the ``websockets`` client Beam's GCP extra
brings), for tests that open the review report as a curator's browser would.

``open_page`` loads a file:// page, waits for its load event and for every <audio> and <video>
element to report its metadata (or an error), and returns what the page said: console errors,
uncaught exceptions, failed loads, each media element's source, duration and error, and a PNG
screenshot of the whole page.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")

# Waits for every media element's metadata (or its error), then lists them.
_MEDIA_SCRIPT = """
(async () => {
  const media = Array.from(document.querySelectorAll('audio, video'));
  await Promise.all(media.map(m => new Promise(resolve => {
    if (m.readyState >= 1 || m.error) { resolve(); return; }
    m.addEventListener('loadedmetadata', resolve, {once: true});
    m.addEventListener('error', resolve, {once: true});
    if (m.preload === 'none') m.load();
  })));
  return JSON.stringify(media.map(m => ({
    tag: m.tagName.toLowerCase(), src: m.currentSrc || m.src,
    duration: m.duration, readyState: m.readyState,
    error: m.error ? m.error.code + ' ' + m.error.message : null,
    videoWidth: m.videoWidth || 0, dataset: Object.assign({}, m.dataset),
  })));
})()
"""


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageVisit:
    url: str
    console_errors: list[str] = field(default_factory=list)
    media: list[dict] = field(default_factory=list)
    screenshot_png: bytes = b""
    page_json: object = None  # what ``evaluate`` gave back


class Chromium:
    """One headless Chromium process; ``open_page`` visits pages in fresh tabs."""

    def __init__(self, executable: str, timeout_s: float = 60.0) -> None:
        self._timeout = timeout_s
        self._profile = tempfile.mkdtemp(prefix="talkie-chromium-")
        self._process = subprocess.Popen(
            [
                executable,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--mute-audio",
                "--autoplay-policy=no-user-gesture-required",
                "--allow-file-access-from-files",
                "--remote-debugging-port=0",
                f"--user-data-dir={self._profile}",
                "--window-size=1280,900",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = Path(self._profile) / "DevToolsActivePort"
        deadline = time.monotonic() + timeout_s
        while not port_file.exists() or not port_file.read_text().strip():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"{executable} did not open its DevTools port")
            time.sleep(0.1)
        self._port = int(port_file.read_text().split()[0])

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open_page(self, path: Path, *, evaluate: str | None = None) -> PageVisit:
        """Visit ``path`` (a local file) and report what happened (module docstring)."""
        from websockets.sync.client import connect

        url = path.resolve().as_uri()
        request = urllib.request.Request(f"http://127.0.0.1:{self._port}/json/new?about:blank", method="PUT")
        with urllib.request.urlopen(request, timeout=self._timeout) as response:
            target = json.loads(response.read())
        visit = PageVisit(url=url)
        with connect(target["webSocketDebuggerUrl"], max_size=None, open_timeout=self._timeout) as ws:
            session = _Session(ws, visit, self._timeout)
            for domain in ("Runtime.enable", "Log.enable", "Page.enable"):
                session.call(domain)
            session.call("Page.navigate", url=url)
            session.wait_for("Page.loadEventFired")
            visit.media = json.loads(session.evaluate(_MEDIA_SCRIPT))
            if evaluate is not None:
                visit.page_json = json.loads(session.evaluate(evaluate))
            metrics = session.call("Page.getLayoutMetrics")
            size = metrics["cssContentSize"]
            shot = session.call(
                "Page.captureScreenshot",
                format="png",
                captureBeyondViewport=True,
                clip={
                    "x": 0,
                    "y": 0,
                    "width": size["width"],
                    "height": min(size["height"], 4000),
                    "scale": 1,
                },
            )
            visit.screenshot_png = base64.b64decode(shot["data"])
            session.drain()
        close = urllib.request.Request(f"http://127.0.0.1:{self._port}/json/close/{target['id']}")
        urllib.request.urlopen(close, timeout=self._timeout).close()
        return visit


class _Session:
    """Request/response over one page's DevTools websocket; events are recorded as they pass."""

    def __init__(self, ws, visit: PageVisit, timeout: float) -> None:
        self._ws, self._visit, self._timeout, self._next_id = ws, visit, timeout, 0
        self._seen: list[str] = []

    def call(self, method: str, **params):
        self._next_id += 1
        self._ws.send(json.dumps({"id": self._next_id, "method": method, "params": params}))
        while True:
            message = self._receive()
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"DevTools {method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression: str) -> str:
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"]["value"]

    def wait_for(self, event: str) -> None:
        while event not in self._seen:
            self._receive()

    def drain(self) -> None:
        """Read events that are already waiting (late console errors), without blocking long."""
        try:
            while True:
                self._receive(timeout=0.5)
        except TimeoutError:
            pass

    def _receive(self, timeout: float | None = None) -> dict:
        message = json.loads(self._ws.recv(timeout=self._timeout if timeout is None else timeout))
        method = message.get("method")
        if method:
            self._seen.append(method)
            params = message.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                self._visit.console_errors.append(
                    " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
                )
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                self._visit.console_errors.append(
                    str(details.get("exception", {}).get("description") or details.get("text"))
                )
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                entry = params["entry"]
                self._visit.console_errors.append(
                    f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}".strip()
                )
        return message
