"""Start and stop servers on loopback, for benchmarks and tests: the scaled-out configuration's Oxigraph
(SPARQL graph), Milvus Lite (vectors) and Virtuoso, and ``policykg serve`` itself.

Each runs as a child process bound to 127.0.0.1 on a free port, with its data in a directory of the
caller's; it is stopped by PID. When ``POLICYKG_TEST_PIDS`` names a directory, each PID is also written
there so that ``.ci/run`` (and bench/scale.py) can stop anything a crashed run left behind.

Only the standard library: the tests import it as ``bench.servers``, the bench scripts as ``servers``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listens(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _health_ok(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _wait_until(
    ready: Callable[[int], bool], port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60.0, poll: float = 0.1
) -> None:
    """Wait until ``ready(port)``; fail with the end of the server's log if it exits or takes too long."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {log.read_text(errors='replace')[-800:]}")
        if ready(port):
            return
        time.sleep(poll)
    raise RuntimeError(f"server did not answer on 127.0.0.1:{port} within {timeout:g} s: {log.read_text(errors='replace')[-800:]}")


@dataclass
class Server:
    """A server process on 127.0.0.1:``port`` with its data in ``data``."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    data: Path

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop this process by its PID: SIGTERM, then SIGKILL."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        pids = os.environ.get("POLICYKG_TEST_PIDS")
        if pids:
            (Path(pids) / f"{self.proc.pid}.pid").unlink(missing_ok=True)


def _start(
    name: str, args: list[str], port: int, data: Path, *, log: Path | None = None, env: dict[str, str] | None = None,
    ready: Callable[[int], bool] = _listens, timeout: float = 60.0,
) -> Server:
    """Run ``args`` (output to ``log``, by default next to ``data``), record its PID, wait until ``ready``."""
    data.mkdir(parents=True, exist_ok=True)
    log = log or data.parent / f"{data.name}.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    pids = os.environ.get("POLICYKG_TEST_PIDS")
    if pids:
        Path(pids).mkdir(parents=True, exist_ok=True)
        (Path(pids) / f"{proc.pid}.pid").write_text(name)
    server = Server(name, proc, port, data)
    try:
        _wait_until(ready, port, proc, log, timeout, poll=0.3 if ready is _health_ok else 0.1)
    except BaseException:
        server.stop()
        raise
    return server


@contextlib.contextmanager
def running(server: Server, *, remove_data: bool = False) -> Iterator[Server]:
    """Stop ``server`` (and remove its data if asked) when the block ends, also on errors."""
    try:
        yield server
    finally:
        server.stop()
        if remove_data:
            shutil.rmtree(server.data, ignore_errors=True)


def start_oxigraph(data: Path) -> Server:
    """``oxigraph serve`` on 127.0.0.1, queries over the union of named graphs."""
    port = free_port()
    exe = shutil.which("oxigraph", path=str(BIN)) or "oxigraph"
    return _start("oxigraph", [exe, "serve", "--location", str(data), "--bind", f"127.0.0.1:{port}", "--union-default-graph"], port, data)


def start_milvus(data: Path) -> Server:
    """``milvus-lite server`` on 127.0.0.1 (its default host is every interface: always pass --host)."""
    port = free_port()
    exe = shutil.which("milvus-lite", path=str(BIN)) or "milvus-lite"
    return _start("milvus-lite", [exe, "server", "--data-dir", str(data), "--host", "127.0.0.1", "--port", str(port)], port, data)


VIRTUOSO_INI = """[Database]
DatabaseFile = {d}/virtuoso.db
ErrorLogFile = {d}/virtuoso.log
LockFile = {d}/virtuoso.lck
TransactionFile = {d}/virtuoso.trx
xa_persistent_file = {d}/virtuoso.pxa
Striping = 0
TempStorage = TempDatabase

[TempDatabase]
DatabaseFile = {d}/virtuoso-temp.db
TransactionFile = {d}/virtuoso-temp.trx
Striping = 0

[Parameters]
ServerPort = 127.0.0.1:{sql}
NumberOfBuffers = 20000
MaxDirtyBuffers = 15000
DirsAllowed = ., {d}

[HTTPServer]
ServerPort = 127.0.0.1:{http}
ServerRoot = {d}/www
ServerThreads = 10
MaxClientConnections = 10

[SPARQL]
ResultSetMaxRows = 100000
MaxQueryExecutionTime = 60
"""


def start_policykg(data: Path, log: Path, *, port: int | None = None, timeout: float = 120.0) -> Server:
    """``policykg serve`` over the data directory ``data`` (no API key: uploads off), its output in ``log``;
    returns once ``/health`` answers 200."""
    port = port or free_port()
    exe = BIN / "policykg"
    env = {k: v for k, v in os.environ.items() if k != "POLICYKG_API_KEY"}
    args = [str(exe), "serve", "--host", "127.0.0.1", "--port", str(port), "--data", str(data)]
    return _start("policykg", args, port, data, log=log, env=env, ready=_health_ok, timeout=timeout)


def start_virtuoso(data: Path) -> Server:
    """Debian's ``virtuoso-t`` (virtuoso-opensource-7-bin) in the foreground, SQL and HTTP ports on 127.0.0.1.

    Its SPARQL endpoint is ``/sparql``; updates go to ``/sparql-auth`` with HTTP Digest (dba:dba in a new database).
    """
    exe = shutil.which("virtuoso-t")
    if exe is None:
        raise FileNotFoundError("virtuoso-t (Debian package virtuoso-opensource-7-bin) is not installed")
    (data / "www").mkdir(parents=True, exist_ok=True)
    sql, http = free_port(), free_port()
    ini = data / "virtuoso.ini"
    ini.write_text(VIRTUOSO_INI.format(d=data, sql=sql, http=http))
    return _start("virtuoso", [exe, "-f", "-c", str(ini)], http, data)


@dataclass
class Servers:
    """One Milvus Lite for the session (a collection per knowledge base) and an Oxigraph per knowledge base."""

    root: Path
    milvus: Server | None = None
    graphs: list[Server] = field(default_factory=list)

    def config_toml(self) -> str:
        """A ``policykg.toml`` pointing a new knowledge base at its own graph and collection."""
        if self.milvus is None:
            self.milvus = start_milvus(self.root / "milvus")
        graph = start_oxigraph(self.root / f"oxigraph-{len(self.graphs)}")
        self.graphs.append(graph)
        base = f"http://127.0.0.1:{graph.port}"
        return (
            f'[graph]\nurl = "{base}/query"\nupdate_url = "{base}/update"\n\n'
            f'[vectors]\nurl = "http://127.0.0.1:{self.milvus.port}"\ncollection = "kb_{uuid.uuid4().hex[:12]}"\n'
        )

    def configure(self, data_dir: Path) -> Path:
        """Write the configuration into ``data_dir`` (created); every KnowledgeBase opened there uses the servers."""
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / "policykg.toml").write_text(self.config_toml(), encoding="utf-8")
        return data_dir

    def stop(self) -> None:
        """Stop every server started."""
        for server in [*self.graphs, *([self.milvus] if self.milvus else [])]:
            server.stop()
        self.graphs.clear()
        self.milvus = None
