#!/usr/bin/env python3
"""Open an HTML report in headless Chromium, take a screenshot and check it.

    python scripts/check_report_browser.py report.html [--screenshot out.png]
                                            [--window-size 1280,2000]

Checks that Chromium exits cleanly, that the PNG exists, is larger than a
minimum size, and is not blank (the image rows, decoded with the standard
library only, hold more than a handful of distinct byte values). Chromium runs
with networking features off and a throw-away profile, so a report that tried
to load anything from the network would show it as missing, not fetch it.

Exit status: 0 ok, 1 check failed, 2 no Chromium found (the path can be
given with --chromium or the BANDO_CHROMIUM environment variable).
Needs no third-party package (Pillow is used only when installed).
"""

from __future__ import annotations

import argparse
import os
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


def find_chromium(explicit: str | None = None) -> str | None:
    """Path of a Chromium binary, or None."""
    for cand in (explicit, os.environ.get("BANDO_CHROMIUM"), *CANDIDATES):
        if not cand:
            continue
        path = cand if os.path.isabs(cand) else shutil.which(cand)
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def chromium_command(binary: str, url: str, png: str, profile: str, size: str) -> list[str]:
    return [
        binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}",
        f"--screenshot={png}", f"--window-size={size}", url,
    ]


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


def check(html: str, screenshot: str | None = None, size: str = "1280,2000",
          chromium: str | None = None, timeout: int = 120) -> tuple[bool, str, str]:
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
        cmd = chromium_command(binary, html_path.as_uri(), png, profile, size)
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("html", help="the HTML file to open")
    ap.add_argument("--screenshot", help="where to write the PNG (default: next to the HTML)")
    ap.add_argument("--window-size", default="1280,2000", help="WIDTH,HEIGHT (default 1280,2000)")
    ap.add_argument("--chromium", help="path of the Chromium binary")
    ap.add_argument("--timeout", type=int, default=120, help="seconds (default 120)")
    args = ap.parse_args(argv)
    if find_chromium(args.chromium) is None:
        print("check_report_browser: no chromium binary found "
              "(apt-get install chromium, or set BANDO_CHROMIUM)", file=sys.stderr)
        return 2
    ok, message, _png = check(args.html, args.screenshot, args.window_size, args.chromium,
                              args.timeout)
    print(("" if ok else "check_report_browser: ") + message, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
