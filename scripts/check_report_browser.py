#!/usr/bin/env python3
"""Open an HTML report in headless Chromium, take a screenshot and check it.

    python scripts/check_report_browser.py report.html [--screenshot out.png]
                                            [--window-size 1280,2000] [--first ID]
                                            [--layout] [--results results.jsonl]

Screenshot check (always): Chromium exits cleanly, the PNG exists, is larger
than a minimum size, and is not blank (the image rows, decoded with the
standard library only, hold more than a handful of distinct byte values).
``--first ranking`` shows that section at the top of the page in the shot
(on a copy of the page: headless Chromium always draws from the top).

Layout check (``--layout``): the page is opened again at the window's width
with a measuring script added to a copy of it (Chromium's ``--dump-dom``
prints the page after its load event, and so the script's findings). It
checks that, with the ranking table scrolled into view, its outcome and
grant columns lie inside the window and inside the table's own scrolling
box: visible without scrolling in any direction. With ``--results`` (the
run's results.jsonl) it checks that every funded application is a row of the
ranking table. It reports the file's size, the ranking rows and how long the
browser took to load the page (``performance.now()`` at the load event).

Chromium runs with networking features off and a throw-away profile, so a
report that tried to load anything from the network would show it as
missing, not fetch it.

Exit status: 0 ok, 1 check failed, 2 no Chromium found (the path can be
given with --chromium or the BANDO_CHROMIUM environment variable).
Needs no third-party package (Pillow is used only when installed).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome",
              "google-chrome-stable", "chrome")
MIN_BYTES = 8 * 1024
MIN_DISTINCT = 12
LAYOUT_ID = "bando-layout-check"


def find_chromium(explicit: str | None = None) -> str | None:
    """Path of a Chromium binary, or None."""
    for cand in (explicit, os.environ.get("BANDO_CHROMIUM"), *CANDIDATES):
        if not cand:
            continue
        path = cand if os.path.isabs(cand) else shutil.which(cand)
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def _base_command(binary: str, profile: str, size: str) -> list[str]:
    return [
        binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}", f"--window-size={size}",
    ]


def chromium_command(binary: str, url: str, png: str, profile: str, size: str) -> list[str]:
    return _base_command(binary, profile, size) + [f"--screenshot={png}", url]


def png_stats(path: str) -> tuple[int, int, int]:
    """(width, height, distinct byte values in the decompressed image data)."""
    data = Path(path).read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    pos, idat, width, height = 8, [], 0, 0
    while pos < len(data):
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if ctype == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif ctype == b"IDAT":
            idat.append(body)
        elif ctype == b"IEND":
            break
        pos += 12 + length
    raw = zlib.decompress(b"".join(idat))
    try:  # a real pixel check when Pillow happens to be there
        from PIL import Image  # type: ignore

        with Image.open(path) as im:
            colours = im.convert("RGB").getcolors(maxcolors=1 << 16)
            distinct = len(colours) if colours is not None else 1 << 16
    except ImportError:
        distinct = len(set(raw))
    return width, height, distinct


def _with_script(html_path: Path, script: str, folder: str) -> Path:
    """A copy of the page with ``script`` run at its load event (the report itself is not changed)."""
    text = html_path.read_text(encoding="utf-8")
    tag = f"<script>{script}</script>"
    cut = text.rfind("</body>")
    text = text[:cut] + tag + text[cut:] if cut >= 0 else text + tag
    copy = Path(folder) / html_path.name
    copy.write_text(text, encoding="utf-8")
    return copy


def _first_script(element_id: str) -> str:
    # headless Chromium's --screenshot draws from the top of the page whatever the scroll
    # position: the element is moved to the top of its parent instead (same width, same layout)
    return ("(function () { var e = document.getElementById(%s);"
            " if (e) { e.parentNode.insertBefore(e, e.parentNode.firstElementChild); } })();"
            % json.dumps(element_id))


def check(html: str, screenshot: str | None = None, size: str = "1280,2000",
          chromium: str | None = None, timeout: int = 120,
          scroll_to: str | None = None) -> tuple[bool, str, str]:
    """Screenshot ``html``; returns (ok, message, png path)."""
    binary = find_chromium(chromium)
    if binary is None:
        return False, "no chromium binary found", ""
    html_path = Path(html).resolve()
    if not html_path.is_file():
        return False, f"{html}: no such file", ""
    png = os.path.abspath(screenshot or str(html_path.with_suffix(".png")))
    if os.path.exists(png):
        os.unlink(png)
    with tempfile.TemporaryDirectory(prefix="bando-chromium-") as profile:
        page = html_path
        if scroll_to:
            page = _with_script(html_path, _first_script(scroll_to), tempfile.mkdtemp(dir=profile))
        cmd = chromium_command(binary, page.as_uri(), png, profile, size)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return False, f"chromium did not finish within {timeout}s", png
    if proc.returncode != 0:
        return False, f"chromium exited with {proc.returncode}: {proc.stderr[-2000:]}", png
    if not os.path.isfile(png):
        return False, f"no screenshot written; chromium said: {proc.stderr[-2000:]}", png
    nbytes = os.path.getsize(png)
    if nbytes < MIN_BYTES:
        return False, f"screenshot is only {nbytes} bytes: the page looks blank", png
    try:
        width, height, distinct = png_stats(png)
    except (ValueError, zlib.error, struct.error) as exc:
        return False, f"screenshot is not a readable PNG: {exc}", png
    if distinct < MIN_DISTINCT:
        return False, f"screenshot has only {distinct} distinct values: the page looks blank", png
    return True, f"ok: {png} ({width}x{height}, {nbytes} bytes, {distinct} distinct values)", png


#: run at the load event: scroll the ranking into view and measure it
_MEASURE = """
  var out = {loaded_ms: performance.now(), width: window.innerWidth, height: window.innerHeight};
  var t = document.querySelector('table.ranking');
  if (t) {
    document.getElementById('ranking').scrollIntoView();
    var wrap = t.parentElement.getBoundingClientRect();
    out.wrap = {left: wrap.left, right: wrap.right, top: wrap.top, bottom: wrap.bottom};
    out.columns = {};
    var row = t.tBodies[0].querySelector('tr:not(.line)');
    Array.prototype.forEach.call(t.tHead.rows[0].cells, function (th, i) {
      var col = th.getAttribute('data-col');
      if (!col) { return; }
      var cell = row ? row.cells[i].getBoundingClientRect() : th.getBoundingClientRect();
      var head = th.getBoundingClientRect();
      out.columns[col] = {left: head.left, right: Math.max(head.right, cell.right),
                          top: head.top, bottom: Math.max(head.bottom, cell.bottom)};
    });
    out.rows = Array.prototype.map.call(t.querySelectorAll('tbody tr:not(.line)'), function (r) {
      return [r.cells[1].textContent.trim(), r.className.replace(/^st-/, '')];
    });
  }
  return out;
"""


def evaluate(html: str, body: str, size: str = "1280,800", chromium: str | None = None,
             timeout: int = 300) -> object:
    """Run the JavaScript function ``body`` on the page in Chromium at ``size``, after its
    load event and its own scripts; return what it returns (JSON). On a copy of the page;
    raises RuntimeError."""
    binary = find_chromium(chromium)
    if binary is None:
        raise RuntimeError("no chromium binary found")
    html_path = Path(html).resolve()
    script = ("window.addEventListener('load', function () { var out = (function () {%s})();"
              " var pre = document.createElement('pre'); pre.id = '%s';"
              " pre.textContent = JSON.stringify(out); document.body.appendChild(pre); });"
              % (body, LAYOUT_ID))
    with tempfile.TemporaryDirectory(prefix="bando-chromium-") as profile:
        page = _with_script(html_path, script, tempfile.mkdtemp(dir=profile))
        cmd = _base_command(binary, profile, size) + ["--dump-dom", page.as_uri()]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"chromium did not finish within {timeout}s") from None
    if proc.returncode != 0:
        raise RuntimeError(f"chromium exited with {proc.returncode}: {proc.stderr[-2000:]}")
    m = re.search(r'<pre id="%s">(.*?)</pre>' % LAYOUT_ID, proc.stdout, re.S)
    if m is None:
        raise RuntimeError("the script did not run (no findings in the page)")
    import html as html_mod
    return json.loads(html_mod.unescape(m.group(1)))


def measure(html: str, size: str = "1280,800", chromium: str | None = None,
            timeout: int = 300) -> dict:
    """What the page looks like in Chromium at ``size`` (see ``_MEASURE``); raises RuntimeError."""
    data = evaluate(html, _MEASURE, size, chromium, timeout)
    data["bytes"] = Path(html).stat().st_size
    return data


def funded_ids(results: str) -> list[str]:
    """The funded applications of a results.jsonl."""
    out = []
    with open(results, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                r = json.loads(line)
                if r.get("status") == "funded":
                    out.append(str(r.get("application")))
    return out


def check_layout(html: str, results: str | None = None, size: str = "1280,800",
                 chromium: str | None = None, timeout: int = 300) -> tuple[bool, str, dict]:
    """The layout check (module doc); returns (ok, message, measurements)."""
    try:
        data = measure(html, size, chromium, timeout)
    except RuntimeError as exc:
        return False, str(exc), {}
    problems = []
    cols = data.get("columns") or {}
    wrap = data.get("wrap") or {}
    if not cols:
        problems.append("no ranking table with outcome and grant columns")
    for name in ("status", "grant"):
        c = cols.get(name)
        if c is None:
            problems.append(f"no {name} column in the ranking table")
            continue
        right_edge = min(data["width"], wrap.get("right", data["width"]))
        if c["right"] > right_edge + 0.5 or c["left"] < -0.5:
            problems.append(f"the {name} column ({c['left']:.0f}-{c['right']:.0f} px) is not within the "
                            f"{right_edge:.0f} px visible without scrolling sideways")
        if c["bottom"] > data["height"] + 0.5 or c["top"] < -0.5:
            problems.append(f"the {name} column's first row ends at {c['bottom']:.0f} px, below the "
                            f"{data['height']} px window")
    rows = data.get("rows") or []
    data["ranking_rows"] = len(rows)
    if results is not None:
        present = {r[0] for r in rows}
        wanted = funded_ids(results)
        missing = [i for i in wanted if i not in present]
        data["funded"] = len(wanted)
        if missing:
            problems.append(f"{len(missing)} of {len(wanted)} funded applications are not in the ranking "
                            f"table (first: {missing[:5]})")
    facts = (f"{data['bytes']:,} bytes, {len(rows):,} ranking rows, loaded in {data['loaded_ms']:.0f} ms "
             f"at {data['width']}x{data['height']}")
    if problems:
        return False, "; ".join(problems) + f" ({facts})", data
    return True, f"layout ok: {facts}", data


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("html", help="the HTML file to open")
    ap.add_argument("--screenshot", help="where to write the PNG (default: next to the HTML)")
    ap.add_argument("--window-size", default="1280,2000", help="WIDTH,HEIGHT (default 1280,2000)")
    ap.add_argument("--first", dest="scroll_to", metavar="ID",
                    help="id of a section to show at the top of the screenshot (e.g. ranking)")
    ap.add_argument("--layout", action="store_true",
                    help="also check the ranking table's layout at the window's width (height 800)")
    ap.add_argument("--results", help="the run's results.jsonl: every funded application must be in the table")
    ap.add_argument("--chromium", help="path of the Chromium binary")
    ap.add_argument("--timeout", type=int, default=120, help="seconds (default 120)")
    args = ap.parse_args(argv)
    if find_chromium(args.chromium) is None:
        print("check_report_browser: no chromium binary found "
              "(apt-get install chromium, or set BANDO_CHROMIUM)", file=sys.stderr)
        return 2
    ok, message, _png = check(args.html, args.screenshot, args.window_size, args.chromium,
                              args.timeout, args.scroll_to)
    print(("" if ok else "check_report_browser: ") + message, file=sys.stdout if ok else sys.stderr)
    if ok and (args.layout or args.results):
        width = args.window_size.split(",")[0]
        ok, message, _data = check_layout(args.html, args.results, f"{width},800", args.chromium,
                                          max(args.timeout, 300))
        print(("" if ok else "check_report_browser: ") + message, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
