"""Load test of the HTTP API: uvicorn in a subprocess on 127.0.0.1, concurrent httpx clients.

    .venv/bin/python bench/api.py DATA_DIR [--clients 8] [--seconds 10] [--port 0] [--phases search,measures,overview,coverage]

Each client (a thread) loops for ``--seconds`` over ``/search`` (20 Chinese queries) and, in a second
phase, over ``/regulations/{id}/measures``; prints requests/s, p50/p99 latency and errors per phase.
The ``overview`` phases time what the overview page asks for (``/graph/overview`` by regulation and by
year, ``/graph/overview/edge`` over every edge, and the old ``/graph`` for comparison); ``coverage`` times
``/regulations/{id}/coverage`` over the regulations held in full. Exits with status 1 if any request
failed (a non-200 answer or a transport error).
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from common import percentiles
from servers import running, start_policykg

QUERIES = [
    "行政执法", "普法宣传", "科技成果转化", "营商环境", "实验动物 许可", "人类遗传资源 审批", "双随机 一公开",
    "法治政府建设", "行政复议 应诉", "重大行政决策", "规范性文件 合法性审核", "科技伦理", "科研诚信",
    "知识产权保护", "政务公开", "简政放权", "执法人员 培训", "第一责任人 职责", "公平竞争审查", "应急预案",
]


@dataclass
class Result:
    """Latencies (seconds) and failed requests of one phase, filled by the client threads."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def run_phase(name: str, base: str, clients: int, seconds: float, make_url: Callable[[int], str]) -> int:
    """``clients`` threads each request ``make_url(i)`` in a loop for ``seconds``; print the figures, return the errors."""
    result = Result()
    stop_at = time.monotonic() + seconds
    counter = itertools.count()

    def worker() -> None:
        with httpx.Client(base_url=base, timeout=60) as client:
            while time.monotonic() < stop_at:
                url = make_url(next(counter))
                t0 = time.perf_counter()
                try:
                    ok = client.get(url).status_code == 200
                except httpx.HTTPError:
                    ok = False
                dt = time.perf_counter() - t0
                with result.lock:
                    result.latencies.append(dt)
                    result.errors += not ok

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    n = len(result.latencies)
    if not n:
        print(f"{name}: no requests completed")
        return 1
    latency = percentiles(result.latencies)
    print(
        f"{name:<28} {n:6d} req in {elapsed:5.1f} s  {n / elapsed:8.1f} req/s  "
        f"p50 {latency['p50_ms']:7.1f} ms  p99 {latency['p99_ms']:7.1f} ms  errors {result.errors}"
    )
    return result.errors


PHASES = ("search", "measures", "overview", "coverage")


def overview_phases(base: str, clients: int, seconds: float) -> int:
    """The overview page's requests: the aggregate both ways, every edge expanded, focus on the heaviest units and
    regulations (what the page asks for), and the capped whole /graph the page drew before."""
    with httpx.Client(base_url=base, timeout=60) as client:
        overview = client.get("/graph/overview").json()
        by_year = client.get("/graph/overview", params={"by": "year"}).json()
    edges = [f"/graph/overview/edge?unit={e['source']}&regulation={e['target']}" for e in overview["edges"]]
    edges += [f"/graph/overview/edge?unit={e['source']}&year={e['target'].split(':', 1)[1]}" for e in by_year["edges"]]
    print(f"overview: {len(overview['units'])} units × {len(overview['targets'])} regulations, {len(overview['edges'])} edges, "
          f"{overview['measures']} measures; by year {len(by_year['targets'])} years, {len(by_year['edges'])} edges")
    errors = run_phase("GET /graph/overview", base, clients, seconds, lambda i: "/graph/overview")
    errors += run_phase("GET /graph/overview?by=year", base, clients, seconds, lambda i: "/graph/overview?by=year")
    if edges:
        errors += run_phase("GET /graph/overview/edge", base, clients, seconds, lambda i: edges[i % len(edges)])
    centers = [n["id"] for n in overview["units"][:5] + overview["targets"][:5]]
    if centers:
        errors += run_phase(
            "GET /graph?center=&depth=2 (focus)", base, clients, seconds, lambda i: f"/graph?center={centers[i % len(centers)]}&depth=2&max_nodes=250",
        )
    errors += run_phase("GET /graph (500 nodes, before)", base, clients, seconds, lambda i: "/graph")
    return errors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, help="policykg data directory (run `policykg ingest` first)")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--port", type=int, default=0, help="0: a free port")
    ap.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated, of {', '.join(PHASES)}")
    args = ap.parse_args()
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    if unknown := set(phases) - set(PHASES):
        raise SystemExit(f"unknown phases: {', '.join(sorted(unknown))}")
    if not (args.data / "policykg.sqlite").exists():
        raise SystemExit(f"{args.data}: no policykg data here")
    errors = 0
    with (
        tempfile.TemporaryDirectory(prefix="pkg-api-") as tmp,
        running(start_policykg(args.data, Path(tmp) / "serve.log", port=args.port or None)) as server,
    ):
        base = server.url
        regs = [r["id"] for r in httpx.get(base + "/regulations", timeout=30).json() if r["measures"]]
        if not regs:
            raise SystemExit("no regulation with measures in this store")
        if "search" in phases:
            with httpx.Client(base_url=base, timeout=60) as client:  # warm-up: model, indexes, graph
                for q in QUERIES[:3]:
                    client.get("/search", params={"q": q})
        print(f"server {base}  data {args.data}  {args.clients} clients × {args.seconds:g} s per phase")
        if "search" in phases:
            errors += run_phase("GET /search", base, args.clients, args.seconds, lambda i: f"/search?q={QUERIES[i % len(QUERIES)]}&k=10")
        if "measures" in phases:
            errors += run_phase(
                "GET /regulations/{id}/measures", base, args.clients, args.seconds, lambda i: f"/regulations/{regs[i % len(regs)]}/measures",
            )
        if "overview" in phases:
            errors += overview_phases(base, args.clients, args.seconds)
        if "coverage" in phases:
            full = [r["id"] for r in httpx.get(base + "/regulations", timeout=30).json() if r["doc_id"]]
            errors += run_phase(
                "GET /regulations/{id}/coverage", base, args.clients, args.seconds, lambda i: f"/regulations/{full[i % len(full)]}/coverage",
            )
    if errors:
        raise SystemExit(f"{errors} failed requests")


if __name__ == "__main__":
    main()
