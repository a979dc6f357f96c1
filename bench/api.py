"""Load test of the HTTP API: uvicorn in a subprocess on 127.0.0.1, concurrent http.client clients.

    .venv/bin/python bench/api.py DATA_DIR [--clients 8] [--seconds 10] [--port 0] [--phases search,measures,overview,coverage]
    .venv/bin/python bench/api.py DATA_DIR --backends torch,default --phases search,measures   # before/after in one run

``--backends`` serves the same data once per embedding backend (``POLICYKG_EMBED_BACKEND``: ``torch``,
``onnx-int8`` …; ``default`` leaves it unset), all servers up at once and taking turns (``--rounds``, the
phase's seconds split among them) so that the machine's other load falls on each alike, and ends with one
table: per server, start-up to the first ``/health``, the first ``/search`` (cold), the server's RSS after
the phases, and req/s, p50, p99, errors and the server's CPU ms per request for each endpoint, with the
ratio of each to the first backend. ``BACKEND@SRC`` serves
from the code in SRC, a folder holding a ``policykg/`` package tree (put first on PYTHONPATH), e.g. an earlier
commit's ``api graph ingest search`` (``git archive COMMIT api graph ingest search | tar -x -C SRC/policykg``):
a before/after of code changes in one run; ``--src-data DIR`` gives those servers their own copy of the
data (older code may need a store of its own schema), the others serve DATA_DIR.

Each client (a thread) loops for ``--seconds`` over ``/search`` (20 Chinese queries) and, in a second
phase, over ``/regulations/{id}/measures``; prints requests/s, p50/p99 latency and errors per phase.
The ``overview`` phases time what the overview page asks for (``/graph/overview`` by regulation and by
year, ``/graph/overview/edge`` over every edge, and the old ``/graph`` for comparison); ``coverage`` times
``/regulations/{id}/coverage`` over the regulations held in full. Exits with status 1 if any request
failed (a non-200 answer or a transport error).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import itertools
import math
import os
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from common import percentiles
from servers import Server, running, start_policykg

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


@dataclass
class Figures:
    """One phase's figures (over every round of it)."""

    requests: int
    per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_ms: float = math.nan  # the server's CPU time per request (user + system): what other jobs on the machine disturb least
    client_cpu_ms: float = math.nan  # this process's CPU time per request (the clients share the machine's cores)
    latencies: list[float] = field(default_factory=list, repr=False)
    elapsed: float = 0.0
    cpu_s: float = 0.0
    client_cpu_s: float = 0.0


def server_cpu_s(pid: int | None) -> float:
    """CPU seconds (user + system) a process has used so far (NaN when unknown)."""
    if pid is None:
        return math.nan
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_phase(
    name: str, base: str, clients: int, seconds: float, make_url: Callable[[int], str], figures: dict[str, Figures] | None = None,
    pid: int | None = None,
) -> int:
    """``clients`` threads each request ``make_url(i)`` in a loop for ``seconds``; print the figures (and add
    them to ``figures[name]``, with the CPU time of the server process ``pid``), return the errors."""
    result = Result()
    stop_at = time.monotonic() + seconds
    counter = itertools.count()

    address = urllib.parse.urlsplit(base)

    def worker() -> None:
        # http.client on one kept-alive connection: about a third of httpx's CPU a request (0.25 against
        # 0.7 ms), which matters because the clients share the server's two cores
        conn = http.client.HTTPConnection(address.hostname or "127.0.0.1", address.port, timeout=60)
        try:
            while time.monotonic() < stop_at:
                url = make_url(next(counter))
                t0 = time.perf_counter()
                try:
                    conn.request("GET", urllib.parse.quote(url, safe="/?=&%:"))
                    response = conn.getresponse()
                    response.read()
                    ok = response.status == 200
                except (OSError, http.client.HTTPException):
                    ok = False
                    conn.close()  # the next request opens a new connection
                dt = time.perf_counter() - t0
                with result.lock:
                    result.latencies.append(dt)
                    result.errors += not ok
        finally:
            conn.close()

    cpu0, client0 = server_cpu_s(pid), time.process_time()
    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    cpu, client_cpu = server_cpu_s(pid) - cpu0, time.process_time() - client0
    n = len(result.latencies)
    if not n:
        print(f"{name}: no requests completed")
        return 1
    latency = percentiles(result.latencies)
    if figures is not None:
        total = figures.setdefault(name, Figures(0, 0.0, 0.0, 0.0, 0))
        total.latencies += result.latencies
        total.elapsed += elapsed
        total.cpu_s += cpu
        total.client_cpu_s += client_cpu
        total.errors += result.errors
        total.requests = len(total.latencies)
        total.per_s = total.requests / total.elapsed
        whole = percentiles(total.latencies)
        total.p50_ms, total.p99_ms = whole["p50_ms"], whole["p99_ms"]
        total.cpu_ms = total.cpu_s * 1000 / total.requests
        total.client_cpu_ms = total.client_cpu_s * 1000 / total.requests
    print(
        f"{name:<28} {n:6d} req in {elapsed:5.1f} s  {n / elapsed:8.1f} req/s  "
        f"p50 {latency['p50_ms']:7.1f} ms  p99 {latency['p99_ms']:7.1f} ms  errors {result.errors}"
        + (f"  server CPU {cpu * 1000 / n:5.1f} ms/req" if not math.isnan(cpu) else "")
        + f"  client CPU {client_cpu * 1000 / n:4.1f} ms/req"
    )
    return result.errors


PHASES = ("search", "measures", "overview", "coverage")


def overview_phases(base: str, clients: int, seconds: float, figures: dict[str, Figures] | None = None) -> int:
    """The overview page's requests: the aggregate both ways, every edge expanded, focus on the heaviest units and
    regulations (what the page asks for), and the capped whole /graph the page drew before."""
    with httpx.Client(base_url=base, timeout=60) as client:
        overview = client.get("/graph/overview").json()
        by_year = client.get("/graph/overview", params={"by": "year"}).json()
    edges = [f"/graph/overview/edge?unit={e['source']}&regulation={e['target']}" for e in overview["edges"]]
    edges += [f"/graph/overview/edge?unit={e['source']}&year={e['target'].split(':', 1)[1]}" for e in by_year["edges"]]
    print(f"overview: {len(overview['units'])} units × {len(overview['targets'])} regulations, {len(overview['edges'])} edges, "
          f"{overview['measures']} measures; by year {len(by_year['targets'])} years, {len(by_year['edges'])} edges")
    errors = run_phase("GET /graph/overview", base, clients, seconds, lambda i: "/graph/overview", figures)
    errors += run_phase("GET /graph/overview?by=year", base, clients, seconds, lambda i: "/graph/overview?by=year", figures)
    if edges:
        errors += run_phase("GET /graph/overview/edge", base, clients, seconds, lambda i: edges[i % len(edges)], figures)
    centers = [n["id"] for n in overview["units"][:5] + overview["targets"][:5]]
    if centers:
        errors += run_phase(
            "GET /graph?center=&depth=2 (focus)", base, clients, seconds,
            lambda i: f"/graph?center={centers[i % len(centers)]}&depth=2&max_nodes=250", figures,
        )
    errors += run_phase("GET /graph (500 nodes, before)", base, clients, seconds, lambda i: "/graph", figures)
    return errors


@dataclass
class ServerRun:
    """What one server (one embedding backend) did: start-up, first search, RSS, and each phase."""

    backend: str
    start_s: float = math.nan
    first_search_ms: float = math.nan
    rss_mb: float = math.nan
    peak_rss_mb: float = math.nan
    phases: dict[str, Figures] = field(default_factory=dict)
    errors: int = 0


def server_memory(pid: int) -> tuple[float, float]:
    """(RSS, peak RSS) of a process in MiB, from /proc (NaN where it cannot be read)."""
    values = {"VmRSS": math.nan, "VmHWM": math.nan}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key = line.split(":", 1)[0]
            if key in values:
                values[key] = int(line.split()[1]) / 1024
    return values["VmRSS"], values["VmHWM"]


@contextlib.contextmanager
def embed_backend(spec: str) -> Iterator[None]:
    """``POLICYKG_EMBED_BACKEND`` set to the backend of ``spec`` (``BACKEND[@SRC]``; ``default``: unset), and
    SRC first on PYTHONPATH, while a server starts."""
    backend, _, src = spec.partition("@")
    saved = {k: os.environ.get(k) for k in ("POLICYKG_EMBED_BACKEND", "PYTHONPATH")}
    os.environ.pop("POLICYKG_EMBED_BACKEND", None)
    if backend != "default":
        os.environ["POLICYKG_EMBED_BACKEND"] = backend
    if src:
        if not (Path(src) / "policykg").is_dir():
            raise SystemExit(f"{src}: no policykg/ package tree here")
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(Path(src).resolve()), saved["PYTHONPATH"]) if p)
    try:
        yield
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None)
            if value is not None:
                os.environ[key] = value


def start_server(stack: contextlib.ExitStack, data: Path, backend: str, port: int | None) -> tuple[ServerRun, Server]:
    """Start ``policykg serve`` with ``backend`` (stopped when ``stack`` closes); time its start and first search."""
    run = ServerRun(backend)
    tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="pkg-api-"))
    t0 = time.perf_counter()
    with embed_backend(backend):
        server = stack.enter_context(running(start_policykg(data, Path(tmp) / "serve.log", port=port)))
    run.start_s = time.perf_counter() - t0
    with httpx.Client(base_url=server.url, timeout=120) as client:
        t0 = time.perf_counter()
        client.get("/search", params={"q": QUERIES[0]})
        run.first_search_ms = (time.perf_counter() - t0) * 1000
        for q in QUERIES[1:3]:  # warm-up
            client.get("/search", params={"q": q})
    print(f"server {server.url} ({backend}, data {data}): start {run.start_s:.1f} s, first /search {run.first_search_ms:.0f} ms", flush=True)
    return run, server


def load_phases(run: ServerRun, server: Server, phases: list[str], clients: int, seconds: float) -> None:
    """One round of the phases against one server, added to ``run``."""
    base, pid = server.url, server.proc.pid
    regs = [r["id"] for r in httpx.get(base + "/regulations", timeout=30).json() if r["measures"]]
    if not regs:
        raise SystemExit("no regulation with measures in this store")
    print(f"-- {run.backend}  {clients} clients × {seconds:g} s", flush=True)
    if "search" in phases:
        run.errors += run_phase(
            "GET /search", base, clients, seconds, lambda i: f"/search?q={QUERIES[i % len(QUERIES)]}&k=10", run.phases, pid,
        )
    if "measures" in phases:
        run.errors += run_phase(
            "GET /regulations/{id}/measures", base, clients, seconds, lambda i: f"/regulations/{regs[i % len(regs)]}/measures",
            run.phases, pid,
        )
    if "overview" in phases:
        run.errors += overview_phases(base, clients, seconds, run.phases)
    if "coverage" in phases:
        full = [r["id"] for r in httpx.get(base + "/regulations", timeout=30).json() if r["doc_id"]]
        run.errors += run_phase(
            "GET /regulations/{id}/coverage", base, clients, seconds, lambda i: f"/regulations/{full[i % len(full)]}/coverage",
            run.phases, pid,
        )


def _ratio(value: float, first: float) -> str:
    return f"{value / first:.2f}×" if first and not math.isnan(value) and not math.isnan(first) else "-"


def table(runs: list[ServerRun]) -> str:
    """One row per figure, one column per backend (and the ratio to the first backend)."""
    first = runs[0]
    head = ["", *[r.backend for r in runs], *[f"{r.backend} / {first.backend}" for r in runs[1:]]]
    rows: list[list[str]] = []

    def add(label: str, values: list[float], fmt: str) -> None:
        rows.append([label, *[format(v, fmt) for v in values], *[_ratio(v, values[0]) for v in values[1:]]])

    add("server start to /health, s", [r.start_s for r in runs], ".1f")
    add("first /search (cold), ms", [r.first_search_ms for r in runs], ".0f")
    add("server RSS after the phases, MB", [r.rss_mb for r in runs], ".0f")
    add("server peak RSS, MB", [r.peak_rss_mb for r in runs], ".0f")
    for name in first.phases:
        got = [r.phases.get(name) for r in runs]
        add(f"{name} req/s", [g.per_s if g else math.nan for g in got], ".1f")
        add(f"{name} p50 ms", [g.p50_ms if g else math.nan for g in got], ".1f")
        add(f"{name} p99 ms", [g.p99_ms if g else math.nan for g in got], ".1f")
        add(f"{name} p99/p50", [g.p99_ms / g.p50_ms if g else math.nan for g in got], ".2f")
        add(f"{name} server CPU ms/request", [g.cpu_ms if g else math.nan for g in got], ".1f")
        add(f"{name} bench clients' CPU ms/request", [g.client_cpu_ms if g else math.nan for g in got], ".1f")
        rows.append([f"{name} errors", *[str(g.errors) if g else "-" for g in got], *["" for _ in runs[1:]]])
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(head, widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, help="policykg data directory (run `policykg ingest` first)")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--port", type=int, default=0, help="0: a free port")
    ap.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated, of {', '.join(PHASES)}")
    ap.add_argument("--rounds", type=int, default=0, help="turns the servers take (each phase's seconds split among them; "
                    "default 3 with several backends, else 1)")
    ap.add_argument("--src-data", type=Path, help="the data directory of the BACKEND@SRC servers (default: DATA)")
    ap.add_argument(
        "--backends", default="", help="comma-separated embedding backends to serve one after the other "
        "(torch, onnx-int8, … ; 'default': POLICYKG_EMBED_BACKEND unset; BACKEND@SRC: served from the code in SRC), "
        "then one table with the ratios to the first",
    )
    args = ap.parse_args()
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    if unknown := set(phases) - set(PHASES):
        raise SystemExit(f"unknown phases: {', '.join(sorted(unknown))}")
    if not (args.data / "policykg.sqlite").exists():
        raise SystemExit(f"{args.data}: no policykg data here")
    current = os.environ.get("POLICYKG_EMBED_BACKEND") or "default"
    backends = [b.strip() for b in args.backends.split(",") if b.strip()] or [current]
    rounds = args.rounds or (3 if len(backends) > 1 else 1)
    with contextlib.ExitStack() as stack:
        started = [
            start_server(stack, args.src_data if args.src_data and "@" in b else args.data, b, args.port or None if len(backends) == 1 else None)
            for b in backends
        ]
        for n in range(rounds):  # the servers take turns, so that the machine's other load falls on each alike
            if rounds > 1:
                print(f"== round {n + 1}/{rounds}", flush=True)
            for run, server in started:
                load_phases(run, server, phases, args.clients, args.seconds / rounds)
        runs = []
        for run, server in started:
            run.rss_mb, run.peak_rss_mb = server_memory(server.proc.pid)
            runs.append(run)
    print(f"\ndata {args.data}{f' (@SRC servers: {args.src_data})' if args.src_data else ''}; {args.clients} clients; {args.seconds:g} s per phase and server in {rounds} turn(s)")
    print(table(runs))
    errors = sum(r.errors for r in runs)
    if errors:
        raise SystemExit(f"{errors} failed requests")


if __name__ == "__main__":
    main()
