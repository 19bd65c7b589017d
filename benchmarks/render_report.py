"""Screenshot of a run's HTML report in headless Chromium with no network.

Loads a report (default: the newest sustainability report under ``runs/``, as
``greenkfp run`` copies it to ``runs/<run>/reports/sustainability-report.report.html``,
else the newest HTML report there) as ``file://`` in headless
Chromium with a fresh profile, every request sent to a recording proxy that answers 502,
and writes a full-page PNG. It prints the screenshot's size, every network request the
page tried to make, failed requests and console errors. The rendering code is the tests'
(``tests/browser.py``, standard library only), so this sees exactly what
``tests/pipeline/test_report_render.py`` checks.

The last line printed is one JSON object::

    {"png": "runs/.../report.png", "width": 1280, "height": 3062, "requests": 0,
     "proxy_requests": 0, "failed_requests": 0, "console_errors": 0, "problems": 0,
     "elapsed_s": 3.1}

``requests`` counts the page's network requests (http, https, ws, ...), as DevTools saw
them; ``proxy_requests`` what reached the page's proxy (the same requests, seen from the
network side). A self-contained report has 0 of each, and 0 problems. ``make chromium``
installs Chromium (Debian). The script exits 0 whatever it finds (``--strict``: 1 when
the page has a problem); 2 when there is no report or no browser.

Usage::

    .venv/bin/python benchmarks/render_report.py                     # newest report in runs/
    .venv/bin/python benchmarks/render_report.py path/to/report -o /tmp/report.png
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "tests"))

from browser import BrowserError, render_offline  # noqa: E402

RUNS = REPO_ROOT / "runs"


def newest_report(runs: Path) -> Path | None:
    """The newest sustainability report under ``runs``, else the newest HTML report."""
    for pattern in ("*/reports/sustainability-report.report.html", "*/reports/*.html"):
        found = [p for p in runs.glob(pattern) if p.is_file()]
        if found:
            return max(found, key=lambda p: p.stat().st_mtime)
    return None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "html",
        nargs="?",
        type=Path,
        help="the HTML report (default: the newest sustainability report under runs/)",
    )
    parser.add_argument(
        "-o", "--output", type=Path, help="the PNG to write (default: the report's path + .png)"
    )
    parser.add_argument("--width", type=int, default=1280, help="viewport width (1280)")
    parser.add_argument("--height", type=int, default=800, help="viewport height (800)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds in all (60)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when there is a problem")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    html = args.html or newest_report(RUNS)
    if html is None:
        print(f"no report under {RUNS}: give the HTML path (make demo writes one)", file=sys.stderr)
        return 2
    png = args.output or html.with_name(html.name + ".png")
    print(f"report: {html}")
    try:
        result = render_offline(html, png, args.width, args.height, args.timeout)
    except (BrowserError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"screenshot: {result.png_path} ({result.png_width} x {result.png_height} px)")
    if result.overflows_x:
        print(f"content is wider than the viewport: {result.content_width:g} px")
    print(f"network requests: {len(result.network_requests)}")
    for request in result.network_requests:
        print(f"  {request.method} {request.url} ({request.resource_type}) {request.error or ''}")
    print(f"requests that reached the proxy: {len(result.proxy_requests)}")
    for line in result.proxy_requests:
        print(f"  {line}")
    print(f"failed requests: {len(result.failed_requests)}")
    for request in result.failed_requests:
        print(f"  {request.url}: {request.error}")
    print(f"console errors: {len(result.console_errors)}")
    for text in result.console_errors:
        print(f"  {text}")
    problems = result.problems()
    print("self-contained: yes" if not problems else f"problems: {len(problems)}")
    print(
        json.dumps(
            {
                "png": result.png_path,
                "width": result.png_width,
                "height": result.png_height,
                "requests": len(result.network_requests),
                "proxy_requests": len(result.proxy_requests),
                "failed_requests": len(result.failed_requests),
                "console_errors": len(result.console_errors),
                "problems": len(problems),
                "elapsed_s": round(result.elapsed_s, 2),
            }
        )
    )
    return 1 if problems and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
