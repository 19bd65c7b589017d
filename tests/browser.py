"""Renders a local HTML page in headless Chromium with no network, and records every request.

Standard library only (no pytest), so ``benchmarks/render_report.py`` uses the same code.

:func:`render_offline` starts ``/usr/bin/chromium`` with a fresh profile and drives it
over the Chrome DevTools Protocol on a pipe (``--remote-debugging-pipe``: no port, no
websocket). It loads the ``file://`` page, waits for its load event and a short quiet
spell, takes a full-page PNG screenshot and returns what the page tried to do:

* every request the page started (``Network.requestWillBeSent``, websockets included),
  and which of them failed (``Network.loadingFailed``);
* every request of the page that reached the network stack: the page runs in its own
  browser context whose proxy is a recorder on 127.0.0.1 that answers 502 to everything
  (loopback is not bypassed);
* JavaScript errors and console/log errors.

Chromium's own traffic (component updates, network time, sign-in checks: Chromium 150 and 156
still makes some with every ``--disable-*`` flag) goes to a second recorder and is kept
apart in ``background_requests``; it is not the page's. Host names resolve to nothing, so
nothing leaves the machine either way.

``make chromium`` (run by ``make test``) installs Debian's ``chromium`` package.
"""

from __future__ import annotations

import base64
import dataclasses
import fcntl
import json
import os
import queue
import re
import shutil
import signal
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlsplit

#: The browser; override with the CHROMIUM environment variable.
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

#: Schemes that need the network. ``file:``, ``data:``, ``blob:``, ``about:`` do not.
NETWORK_SCHEMES = ("http", "https", "ws", "wss", "ftp")

#: Suffixes Chromium opens as HTML from file://; other files are shown as text.
HTML_SUFFIXES = (".html", ".htm")

#: Taller pages are cut here (Chromium's own limit for one screenshot is near 16,384 px).
MAX_HEIGHT = 16000

LOG_NAME = "chromium.log"

INSTALL_HINT = (
    "`make test` installs it (its `chromium` target runs `apt-get install -y chromium` on "
    "Debian); or run `make chromium`"
)


class BrowserError(RuntimeError):
    """Chromium is missing, crashed, or did not finish in time."""


@dataclasses.dataclass
class Request:
    """One request the page started, as the DevTools protocol reported it."""

    url: str
    method: str = "GET"
    resource_type: str = ""
    error: Optional[str] = None  # loadingFailed's errorText or blocked reason, or "HTTP 502"

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme.lower()


@dataclasses.dataclass
class RenderResult:
    """What :func:`render_offline` saw; :meth:`problems` says what breaks offline use."""

    html_path: str
    png_path: str
    url: str
    viewport_width: int
    png_width: int
    png_height: int
    content_width: float
    content_height: float
    requests: list[Request]
    proxy_requests: list[str]
    background_requests: list[str]
    console_errors: list[str]
    elapsed_s: float

    @property
    def network_requests(self) -> list[Request]:
        """Requests with a network scheme (http, https, ws, ...)."""
        return [r for r in self.requests if r.scheme in NETWORK_SCHEMES]

    @property
    def failed_requests(self) -> list[Request]:
        """Requests that failed, were blocked or got an HTTP error, whatever their scheme."""
        return [r for r in self.requests if r.error is not None]

    @property
    def local_files(self) -> list[str]:
        """``file://`` URLs other than the page itself: the page is not self-contained."""
        page = _strip_fragment(self.url)
        return sorted(
            {r.url for r in self.requests if r.scheme == "file" and _strip_fragment(r.url) != page}
        )

    @property
    def overflows_x(self) -> bool:
        """Whether the content is wider than the viewport (a horizontal scroll bar)."""
        return self.content_width > self.viewport_width + 0.5

    def problems(self) -> list[str]:
        """Everything that would break the page offline; empty when it is self-contained."""
        out = [f"network request: {r.method} {r.url}" for r in self.network_requests]
        out += [f"failed request: {r.url} ({r.error})" for r in self.failed_requests]
        out += [f"reached the proxy: {line}" for line in self.proxy_requests]
        out += [f"loads a local file: {url}" for url in self.local_files]
        out += [f"console error: {text}" for text in self.console_errors]
        return out


def _strip_fragment(url: str) -> str:
    return url.split("#", 1)[0]


# ----------------------------------------------------------------------------- proxy


_NO_REQUEST_LINE = "(connection without a request line)"


class _RecordingProxy(socketserver.ThreadingTCPServer):
    """An HTTP proxy on 127.0.0.1 that records each request line and answers 502."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.lines: list[str] = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.server_address[1]

    def __enter__(self) -> _RecordingProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


class _ProxyHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock = self.request
        sock.settimeout(2.0)
        data = b""
        try:
            while b"\r\n" not in data and len(data) < 65536:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        line = data.split(b"\r\n", 1)[0].decode("latin-1").strip()
        with self.server.lock:  # type: ignore[attr-defined]
            self.server.lines.append(line or _NO_REQUEST_LINE)  # type: ignore[attr-defined]
        try:
            sock.sendall(
                b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
        except OSError:
            pass


# ----------------------------------------------------------------------------- DevTools


class _DevTools:
    """The DevTools protocol over Chromium's pipe: fd 3 reads commands, fd 4 writes replies."""

    def __init__(self, read_fd: int, write_fd: int, deadline: float, what: list[str]) -> None:
        self.read_fd, self.write_fd = read_fd, write_fd
        self.deadline = deadline
        self.what = what  # [the current stage], for the timeout message
        self.next_id = 0
        self.replies: dict[int, dict] = {}
        self.events: list[dict] = []
        self.inbox: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = os.read(self.read_fd, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                self.inbox.put(None)
                return
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for message in messages:
                self.inbox.put(json.loads(message))

    def _take(self, wait: float) -> bool:
        """Files the next message, waiting up to ``wait`` s; False when none came."""
        try:
            message = self.inbox.get(timeout=max(wait, 0.0))
        except queue.Empty:
            return False
        if message is None:
            raise BrowserError(f"chromium closed the DevTools pipe while {self.what[0]}")
        if "id" in message:
            self.replies[message["id"]] = message
        else:
            self.events.append(message)
        return True

    def _remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(self.what[0])
        return left

    def send(self, method: str, session: Optional[str] = None, **params: Any) -> dict:
        """Sends one command and returns its result; raises on a protocol error."""
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        try:
            while data:
                data = data[os.write(self.write_fd, data) :]
        except OSError as err:
            raise BrowserError(f"chromium is gone ({err}) while {self.what[0]}") from None
        while self.next_id not in self.replies:
            self._take(self._remaining())
        reply = self.replies.pop(self.next_id)
        if "error" in reply:
            raise BrowserError(f"DevTools {method} failed: {reply['error']}")
        return reply.get("result", {})

    def wait_event(self, method: str, session: str) -> None:
        """Waits for an event (one already received counts)."""
        seen = 0
        while True:
            for event in self.events[seen:]:
                if event.get("method") == method and event.get("sessionId") == session:
                    return
            seen = len(self.events)
            self._take(self._remaining())

    def settle(self, quiet_s: float, most_s: float) -> None:
        """Waits until no message came for ``quiet_s`` (at most ``most_s`` in all)."""
        end = min(time.monotonic() + most_s, self.deadline)
        while time.monotonic() < end:
            if not self._take(min(quiet_s, end - time.monotonic())):
                return


def _requests(events: list[dict], session: str) -> list[Request]:
    by_id: dict[str, Request] = {}
    order: list[Request] = []
    for event in events:
        if event.get("sessionId") != session:
            continue
        method, params = event.get("method"), event.get("params", {})
        if method == "Network.requestWillBeSent":
            req = params.get("request", {})
            request = Request(req.get("url", ""), req.get("method", "GET"), params.get("type", ""))
            by_id[params.get("requestId", "")] = request  # a redirect is a new Request
            order.append(request)
        elif method == "Network.webSocketCreated":
            request = Request(params.get("url", ""), "GET", "WebSocket")
            by_id[params.get("requestId", "")] = request
            order.append(request)
        elif method == "Network.responseReceived" and params.get("requestId") in by_id:
            status = params.get("response", {}).get("status") or 0
            if status >= 400:
                by_id[params["requestId"]].error = f"HTTP {status}"
        elif method == "Network.loadingFailed" and params.get("requestId") in by_id:
            error = params.get("errorText") or params.get("blockedReason") or "failed"
            by_id[params["requestId"]].error = str(error)
    return order


def _console_errors(events: list[dict], session: str) -> list[str]:
    out = []
    for event in events:
        if event.get("sessionId") != session:
            continue
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            description = details.get("exception", {}).get("description") or ""
            out.append(f"{details.get('text', 'exception')} {description}".strip())
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = params.get("args", [])
            out.append(" ".join(str(a.get("value", a.get("description", ""))) for a in args))
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            if entry.get("level") == "error":
                out.append(f"{entry.get('text', '')} {entry.get('url', '')}".strip())
    return out


# ----------------------------------------------------------------------------- rendering


def _high_fd(fd: int) -> int:
    """Moves ``fd`` to a number >= 10 (close-on-exec; ``pass_fds`` lets the child keep it)."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


def _launch(chromium: str, workdir: Path, proxy_port: int) -> tuple[subprocess.Popen, int, int]:
    """Starts Chromium in its own process group; returns it and our ends of its pipe.

    Its profile, temporary files (TMPDIR) and log all go to ``workdir``, which the
    caller removes, also after a kill.
    """
    to_chrome_r, to_chrome_w = os.pipe()
    from_chrome_r, from_chrome_w = os.pipe()
    # The child's ends go above fd 9, so that putting them on fds 3 and 4 cannot clobber
    # one with the other (os.pipe() may well return 3 and 4).
    to_chrome_r, from_chrome_w = (_high_fd(fd) for fd in (to_chrome_r, from_chrome_w))
    args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        "--disable-domain-reliability",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--mute-audio",
        f"--user-data-dir={workdir / 'profile'}",
        f"--proxy-server=http://127.0.0.1:{proxy_port}",
        "--proxy-bypass-list=<-loopback>",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        "--remote-debugging-pipe",
        "about:blank",
    ]
    # A tiny Python trampoline puts the pipe on fds 3 and 4, where --remote-debugging-pipe
    # expects it, then execs the browser (Debian's /usr/bin/chromium is a script that
    # execs the binary). No preexec_fn: the proxy threads are running.
    trampoline = [
        sys.executable,
        "-I",
        "-S",
        "-c",
        "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
        "os.execv(sys.argv[3], sys.argv[3:])",
        str(to_chrome_r),
        str(from_chrome_w),
    ]
    with open(workdir / LOG_NAME, "wb") as err:
        proc = subprocess.Popen(
            [*trampoline, chromium, *args],
            env={**os.environ, "TMPDIR": str(workdir)},
            stdin=subprocess.DEVNULL,
            stdout=err,
            stderr=err,
            pass_fds=(to_chrome_r, from_chrome_w),
            start_new_session=True,
        )
    os.close(to_chrome_r)
    os.close(from_chrome_w)
    return proc, from_chrome_r, to_chrome_w


def _stop(proc: subprocess.Popen, devtools: Optional[_DevTools]) -> None:
    """Closes the browser (politely when ``devtools`` is given), then kills its group."""
    if devtools is not None and proc.poll() is None:
        try:
            devtools.deadline = time.monotonic() + 2.0
            devtools.send("Browser.close")
        except (BrowserError, TimeoutError, OSError):
            pass
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the group we started (start_new_session)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    kept = [line for line in text.splitlines() if line.strip() and "dbus" not in line]
    return "\n".join(kept[-lines:])


def render_offline(
    html_path: str | os.PathLike,
    png_path: str | os.PathLike,
    width: int = 1280,
    height: int = 800,
    timeout: float = 60.0,
    chromium: str = CHROMIUM,
) -> RenderResult:
    """Renders a local HTML file without network and saves a full-page PNG screenshot.

    Args:
        html_path: The page (loaded as ``file://``; a file without an ``.html`` suffix,
            like KFP's ``report`` artifact, as a ``<name>.html`` copy).
        png_path: Where the PNG goes (folders are created).
        width: Viewport width in CSS pixels (device scale factor 1).
        height: Viewport height; the screenshot covers the whole page anyway, up to
            :data:`MAX_HEIGHT` pixels.
        timeout: Seconds for everything, browser start included; then Chromium is killed.
        chromium: The browser executable.

    Returns:
        What the page requested and logged, and the screenshot's size.

    Raises:
        FileNotFoundError: When ``html_path`` does not exist.
        BrowserError: When Chromium is missing, dies, or does not finish in ``timeout`` s.
    """
    started = time.monotonic()
    page = Path(html_path).resolve()
    if not page.is_file():
        raise FileNotFoundError(f"no such page: {page}")
    if not (os.path.isfile(chromium) and os.access(chromium, os.X_OK)):
        raise BrowserError(f"chromium not found at {chromium}: {INSTALL_HINT}")
    png = Path(png_path)
    png.parent.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="greenkfp-chromium-"))
    if page.suffix.lower() not in HTML_SUFFIXES:
        # KFP writes an HTML artifact to a file named "report", without a suffix, and
        # Chromium shows such a file:// page as plain text (a symlink does not help: the
        # type comes from the target); the KFP UI serves it as HTML. So: a copy.
        alias = workdir / f"{page.name}.html"
        shutil.copyfile(page, alias)
        url = alias.as_uri()
    else:
        url = page.as_uri()
    stderr_path = workdir / LOG_NAME
    stage = ["starting chromium"]
    proc = devtools = None
    try:
        with _RecordingProxy() as proxy, _RecordingProxy() as background:
            proc, read_fd, write_fd = _launch(chromium, workdir, background.port)
            try:
                devtools = _DevTools(read_fd, write_fd, started + timeout, stage)
                # The page gets its own context (a fresh, incognito-like profile) whose
                # traffic goes to `proxy`; the browser's own traffic (component updates,
                # sign-in checks) goes to `background`.
                context = devtools.send(
                    "Target.createBrowserContext",
                    proxyServer=f"http://127.0.0.1:{proxy.port}",
                    proxyBypassList="<-loopback>",
                )["browserContextId"]
                target = devtools.send(
                    "Target.createTarget", url="about:blank", browserContextId=context
                )["targetId"]
                session = devtools.send("Target.attachToTarget", targetId=target, flatten=True)[
                    "sessionId"
                ]
                for domain in ("Page", "Network", "Runtime", "Log"):
                    devtools.send(f"{domain}.enable", session)
                metrics = {"deviceScaleFactor": 1, "mobile": False}
                devtools.send(
                    "Emulation.setDeviceMetricsOverride",
                    session,
                    width=width,
                    height=height,
                    **metrics,
                )
                stage[0] = f"loading {url}"
                nav = devtools.send("Page.navigate", session, url=url)
                if nav.get("errorText"):
                    raise BrowserError(f"chromium could not open {url}: {nav['errorText']}")
                devtools.wait_event("Page.loadEventFired", session)
                stage[0] = "waiting for the page to settle"
                devtools.settle(quiet_s=0.3, most_s=3.0)  # late requests, timers
                stage[0] = "taking the screenshot"
                layout = devtools.send("Page.getLayoutMetrics", session)
                size = layout.get("cssContentSize") or layout["contentSize"]
                content_w, content_h = float(size["width"]), float(size["height"])
                shot_w = max(width, int(content_w + 0.999))
                shot_h = min(max(height, int(content_h + 0.999)), MAX_HEIGHT)
                devtools.send(
                    "Emulation.setDeviceMetricsOverride",
                    session,
                    width=width,
                    height=shot_h,
                    **metrics,
                )
                clip = {"x": 0, "y": 0, "width": shot_w, "height": shot_h, "scale": 1}
                shot = devtools.send(
                    "Page.captureScreenshot",
                    session,
                    format="png",
                    captureBeyondViewport=True,
                    clip=clip,
                )
                png.write_bytes(base64.b64decode(shot["data"]))
                devtools.settle(quiet_s=0.1, most_s=0.5)  # anything the resize triggered
            except TimeoutError:
                devtools = None  # not answering: no polite close
                raise BrowserError(
                    f"chromium did not finish in {timeout:g} s (while {stage[0]}); killed it. "
                    f"Its log ends:\n{_tail(stderr_path)}"
                ) from None
            except BrowserError as err:
                raise BrowserError(f"{err}\nchromium's log ends:\n{_tail(stderr_path)}") from None
            finally:
                _stop(proc, devtools)
                for fd in (read_fd, write_fd):
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            time.sleep(0.05)  # let a connection the proxy just accepted be recorded
            with proxy.lock, background.lock:
                proxy_lines, background_lines = list(proxy.lines), list(background.lines)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    requests = _requests(devtools.events, session)
    proxy_lines, browser_lines = _split_browser_traffic(proxy_lines, requests)
    png_w, png_h = png_size(png)
    return RenderResult(
        html_path=str(page),
        png_path=str(png),
        url=url,
        viewport_width=width,
        png_width=png_w,
        png_height=png_h,
        content_width=content_w,
        content_height=content_h,
        requests=requests,
        proxy_requests=proxy_lines,
        background_requests=background_lines + browser_lines,
        console_errors=_console_errors(devtools.events, session),
        elapsed_s=time.monotonic() - started,
    )


# Hosts of Chromium's own services. Chromium 150 sends sign-in and search checks through
# the page's browser context too, with every --disable-* flag; they are not the page's.
_BROWSER_SERVICE_HOST = re.compile(r"^CONNECT (accounts|www|clients[0-9]*)\.google\.com:443 ")


def _split_browser_traffic(
    lines: list[str], requests: list[Request]
) -> tuple[list[str], list[str]]:
    """Splits the page context's proxy lines into the page's and Chromium's own.

    A line counts as Chromium's only when it goes to one of its service hosts and the page
    requested nothing from that host, or when the connection never sent a request line
    (a speculative preconnect). Everything else stays the page's.
    """
    page_hosts = {urlsplit(r.url).hostname for r in requests}
    page, browser = [], []
    for line in lines:
        match = _BROWSER_SERVICE_HOST.match(line)
        own = match and f"{match.group(1)}.google.com" not in page_hosts
        (browser if own or line == _NO_REQUEST_LINE else page).append(line)
    return page, browser


def png_size(path: str | os.PathLike) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk; raises ValueError when it is not a PNG."""
    with open(path, "rb") as f:
        head = f.read(24)
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        raise ValueError(f"{path}: not a PNG file")
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def chromium_available(chromium: str = CHROMIUM) -> bool:
    """Whether the browser executable is there."""
    return os.path.isfile(chromium) and os.access(chromium, os.X_OK)
