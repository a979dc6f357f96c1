"""Shared test fixtures."""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from bench.servers import Servers
from policykg.api.config import Config
from policykg.api.kb import KnowledgeBase
from policykg.graph.rdf import build_rdf
from policykg.graph.sparql_server import SparqlServerGraph
from policykg.search.milvus import MilvusIndex

# The read-only corpus lives next to the repository (../shared/corpus); POLICYKG_CORPUS overrides it.
CORPUS = Path(
    os.environ.get("POLICYKG_CORPUS") or Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
)


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The corpus folder; tests that need it are skipped when it is absent."""
    if not CORPUS.is_dir():
        pytest.skip(f"corpus not found at {CORPUS} (set POLICYKG_CORPUS)")
    return CORPUS


FOUNDING = "reports/fazhi/tianjin-kjj-fazhi-2023.txt"
FOUNDING_REGULATIONS = (
    "regulations/shiyan-dongwu-guanli-tiaoli.md",
    "regulations/renlei-yichuan-ziyuan-guanli-tiaoli-2019.md",
    "regulations/kejijinbufa-2021.md",
)


class HashingEncoder:
    """A stand-in encoder (character bigrams hashed into 384 dims) for tests where the model is beside the point."""

    dim = 384
    name = "hashing-test-encoder"

    def _encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            for a, b in itertools.pairwise(t):
                out[i, zlib.crc32((a + b).encode()) % self.dim] += 1.0
            norm = np.linalg.norm(out[i])
            if norm:
                out[i] /= norm
        return out

    def encode_passages(self, texts: Sequence[str], *, batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        return self._encode(list(texts))

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(list(texts))


@pytest.fixture(scope="session")
def hashing_encoder() -> HashingEncoder:
    return HashingEncoder()


# ---------------------------------------------------------------- configurations
# "embedded": SQLite + faiss + rdflib in the data directory (the default).
# "servers": the graph in an Oxigraph SPARQL server and the vectors in a Milvus Lite server, both
# started on 127.0.0.1 by the tests; the data directory's policykg.toml points at them.
BACKENDS = ("embedded", "servers")


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """Servers are started when a test first asks for the "servers" configuration; stopped by PID."""
    s = Servers(tmp_path_factory.mktemp("servers"))
    yield s
    s.stop()


@pytest.fixture(scope="session", params=[pytest.param(b, marks=pytest.mark.slow) if b == "servers" else b for b in BACKENDS])
def backend(request: pytest.FixtureRequest) -> str:
    """The configuration under test; the servers one is in the slow tier (it starts Oxigraph and Milvus Lite)."""
    return str(request.param)


@pytest.fixture(scope="session")
def data_dir_for(backend: str, servers: Servers) -> Callable[[Path], Path]:
    """Make a data directory for the configuration under test (with its policykg.toml for "servers")."""

    def make(path: Path) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        return servers.configure(path) if backend == "servers" else path

    return make


def assert_servers_agree(kb: KnowledgeBase) -> None:
    """With servers configured: Milvus holds exactly the store's passage and sentence vectors, the SPARQL
    server exactly the store's triples."""
    vectors, graph = kb.components.syncers.get("vectors"), kb.components.syncers.get("graph")
    if isinstance(vectors, MilvusIndex):
        ids = set(kb.store.passage_vectors(kb.store.vector_dim() or 384)[0].tolist())
        assert vectors.count() == len(ids)
        docs = [d.id for d in kb.store.documents()]
        assert {pid for d in docs for pid in vectors.ids_of(d)} == ids
        sentences = kb.store.sentence_vectors(kb.store.vector_dim() or 384)[0]
        assert vectors.sentence_count() == len(sentences)
        assert sorted(pid for d in docs for pid in vectors.sentence_passages_of(d)) == sentences.tolist()
    if isinstance(graph, SparqlServerGraph):
        assert graph.count() == len(build_rdf(kb.store))


@pytest.fixture(scope="session")
def founding_kb(
    corpus: Path, tmp_path_factory: pytest.TempPathFactory, hashing_encoder: HashingEncoder, backend: str,
    data_dir_for: Callable[[Path], Path],
) -> KnowledgeBase:
    """The founding report and the regulations it cites, by the manifest (stand-in encoder), per configuration."""
    kb = KnowledgeBase(data_dir_for(tmp_path_factory.mktemp(f"founding-{backend}")), encoder=hashing_encoder)
    report = kb.ingest([corpus / FOUNDING, *(corpus / r for r in FOUNDING_REGULATIONS)], manifest=corpus / "manifest.csv")
    assert report.ok, report.failed
    return kb


@pytest.fixture(scope="session")
def corpus_store(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    """The whole corpus by its manifest, on the real embedding model, embedded (built once per session).

    POLICYKG_TEST_STORE names a store built the same way to copy instead (saves the ingest while
    developing; CI always builds it).
    """
    prebuilt = os.environ.get("POLICYKG_TEST_STORE")
    if prebuilt:
        target = tmp_path_factory.mktemp("corpus") / "data"
        shutil.copytree(prebuilt, target, ignore=shutil.ignore_patterns("policykg.toml", "ingest.lock"))
        return KnowledgeBase(target, config=Config())
    kb = KnowledgeBase(tmp_path_factory.mktemp("corpus"), config=Config())
    report = kb.ingest([], manifest=corpus / "manifest.csv")
    assert report.ok, report.failed
    assert len(report.added) == 48
    return kb


@pytest.fixture(scope="session")
def corpus_kb(corpus_store: KnowledgeBase, tmp_path_factory: pytest.TempPathFactory, backend: str, data_dir_for: Callable[[Path], Path]) -> KnowledgeBase:
    """The whole corpus per configuration: for "servers", a copy of the store pushed to the servers."""
    if backend == "embedded":
        return corpus_store
    target = tmp_path_factory.mktemp("corpus-servers") / "data"
    shutil.copytree(corpus_store.data_dir, target, ignore=shutil.ignore_patterns("ingest.lock"))
    kb = KnowledgeBase(data_dir_for(target), encoder=corpus_store.encoder())
    kb.sync()
    return kb


# ---------------------------------------------------------------- a listener that records connections
class Listener:
    """A TCP listener on 127.0.0.1 that accepts, records the first bytes, and closes every connection."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self.port = int(self.sock.getsockname()[1])
        self.accepted = 0  # counted as soon as accepted
        self.seen: list[bytes] = []  # the first bytes each connection sent
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="guard-listener", daemon=True)
        self._thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            with conn:
                conn.settimeout(0.5)
                try:
                    self.seen.append(conn.recv(120) or b"(nothing sent)")
                except OSError:
                    self.seen.append(b"(no request line)")

    def connections(self, settle: float = 0.05) -> int:
        time.sleep(settle)  # a connection made by another process (the graph server) is accepted here
        return self.accepted

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2.0)
        self.sock.close()


@pytest.fixture(scope="module")
def listener() -> Iterator[Listener]:
    """A :class:`Listener` for the tests of one module."""
    lst = Listener()
    yield lst
    lst.close()
