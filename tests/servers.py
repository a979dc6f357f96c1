"""Start and stop the servers of the scaled-out configuration on loopback, for tests and benchmarks.

Oxigraph (SPARQL graph) and Milvus Lite (vectors) run as child processes bound to 127.0.0.1 on
free ports, with their data in temporary directories; they are stopped by PID. When
``POLICYKG_TEST_PIDS`` names a directory, each PID is also written there so that ``.ci/run`` can
stop anything a crashed test run left behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {log.read_text(errors='replace')[-800:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"server did not listen on 127.0.0.1:{port} within {timeout:g} s")


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    data: Path

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


def _start(name: str, args: list[str], port: int, data: Path) -> Server:
    data.mkdir(parents=True, exist_ok=True)
    log = data.parent / f"{data.name}.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    pids = os.environ.get("POLICYKG_TEST_PIDS")
    if pids:
        Path(pids).mkdir(parents=True, exist_ok=True)
        (Path(pids) / f"{proc.pid}.pid").write_text(name)
    server = Server(name, proc, port, data)
    try:
        _wait_for_port(port, proc, log)
    except BaseException:
        server.stop()
        raise
    return server


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
        for s in [*self.graphs, *([self.milvus] if self.milvus else [])]:
            s.stop()
        self.graphs.clear()
        self.milvus = None
