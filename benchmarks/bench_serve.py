"""Load benchmark of `bando serve` (a script, not a test).

Starts `bando serve policies/salentonet.bando` on a free loopback port in a
child process, then for each mode (explained results, and ``explain=false``,
the fast path) and each number of concurrent clients (1, 16, 64) runs bounded
request loops for ``--seconds`` (at most ``--max-requests`` each): every
client POSTs the shipped SalentoNet applications to ``/evaluate`` in turn over
a keep-alive connection (httpx, asyncio). It prints throughput, p50 and p99
latency, the number of errors (anything but 200), the server's RSS before the
first run and after the last, and the overhead per request against
``policy.evaluate`` / ``policy.decide`` called in this process on the same
applications.

    python benchmarks/bench_serve.py                 # 10 s per run
    python benchmarks/bench_serve.py --seconds 30    # as the issue asks

Client and server share the machine: on a small one the client's own work
(httpx) is part of every figure, so the figures are a floor, not a ceiling.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "policies" / "salentonet.bando"
EXAMPLES = ROOT / "examples" / "salentonet"


def applications(policy) -> list[bytes]:
    """The shipped applications that evaluate (not the invalid ones, which answer 422 by design)."""
    from engine import load_application
    out = []
    for p in sorted(EXAMPLES.glob("*.json")):
        if policy.decide(load_application(p)).status != "invalid":
            out.append(p.read_bytes())
    return out


def rss_kib(pid: int) -> int:
    m = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(m.group(1)) if m else -1


def start_server(threads: int):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "serve", str(POLICY), "--port", str(port),
                             "--no-access-log", "--threads", str(threads), "--queue", "1024"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                return proc, base
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("bando serve did not start")


async def run(base: str, apps: list[bytes], clients: int, explain: bool | None, seconds: float, max_requests: int):
    """``explain`` None: GET /healthz, the floor of one HTTP round trip on this machine."""
    url = "/healthz" if explain is None else "/policies/salentonet/evaluate" + ("" if explain else "?explain=false")
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        async def loop(k: int):
            nonlocal errors
            for i in range(max_requests):  # bounded in count and in time
                if time.perf_counter() >= stop_at:
                    return
                body = apps[(k + i) % len(apps)]
                t = time.perf_counter()
                try:
                    if explain is None:
                        r = await client.get(url)
                    else:
                        r = await client.post(url, content=body, headers={"content-type": "application/json"})
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - t)
                errors += not ok
        t0 = time.perf_counter()
        await asyncio.gather(*(loop(k) for k in range(clients)))
        wall = time.perf_counter() - t0
    latencies.sort()
    return {"clients": clients, "explain": explain, "requests": len(latencies), "errors": errors,
            "rps": len(latencies) / wall, "p50_ms": 1000 * latencies[len(latencies) // 2],
            "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]}


def in_process(policy, apps: list[bytes], explain: bool, seconds: float = 2.0) -> float:
    """Mean seconds per call of policy.evaluate / policy.decide on the parsed applications."""
    from engine.compile.validate import exact_json_float
    data = [json.loads(a, parse_float=exact_json_float) for a in apps]
    call = (lambda d: policy.evaluate(d)) if explain else policy.decide
    for d in data:  # warm: the explaining fast path is compiled on first use
        call(d)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for d in data:
            call(d)
        n += len(data)
    return (time.perf_counter() - t0) / n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each run (default 10)")
    ap.add_argument("--max-requests", type=int, default=200_000, help="most requests per client per run")
    ap.add_argument("--clients", default="1,16,64")
    ap.add_argument("--threads", type=int, default=4, help="the server's --threads")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from engine import load_policy
    policy = load_policy(POLICY)
    apps = applications(policy)
    proc, base = start_server(args.threads)
    try:
        rss_start = rss_kib(proc.pid)
        floor = asyncio.run(run(base, apps, 1, None, min(args.seconds, 3.0), args.max_requests))
        rows = []
        for explain in (True, False):
            for c in (int(x) for x in args.clients.split(",")):
                rows.append(asyncio.run(run(base, apps, c, explain, args.seconds, args.max_requests)))
        rss_end = rss_kib(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)
    per = {e: in_process(policy, apps, e) for e in (True, False)}
    print(f"bando serve, policies/salentonet.bando, {len(apps)} shipped applications in turn, "
          f"{args.seconds:g} s per run, server --threads {args.threads}, one uvicorn worker")
    print(f"{'mode':<12}{'clients':>8}{'requests':>10}{'errors':>8}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    for r in rows:
        mode = "explain" if r["explain"] else "fast path"
        print(f"{mode:<12}{r['clients']:>8}{r['requests']:>10}{r['errors']:>8}{r['rps']:>10.0f}"
              f"{r['p50_ms']:>10.2f}{r['p99_ms']:>10.2f}")
    print(f"GET /healthz, 1 client: p50 {floor['p50_ms']:.2f} ms, {floor['rps']:.0f} req/s, {floor['errors']} errors "
          "(the cost of one HTTP round trip here, evaluation aside)")
    print(f"server RSS: {rss_start / 1024:.1f} MiB at the start, {rss_end / 1024:.1f} MiB at the end "
          f"(ratio {rss_end / rss_start:.2f})")
    for e in (True, False):
        one = next(r for r in rows if r["explain"] == e and r["clients"] == 1)
        http = one["p50_ms"] / 1000
        name = "policy.evaluate" if e else "policy.decide"
        print(f"{name:<16} in process {per[e] * 1e6:8.0f} µs; over HTTP (1 client, p50) {http * 1e6:8.0f} µs: "
              f"overhead {(http - per[e]) * 1e6:.0f} µs per request, {http / per[e]:.1f}× the in-process call")
    return 1 if any(r["errors"] for r in rows + [floor]) else 0


if __name__ == "__main__":
    sys.exit(main())
