"""Configuration: one typed tree of dataclasses, read in one place.

Sources, strongest first: the environment (``POLICYKG_<SECTION>_<KEY>``, e.g. ``POLICYKG_GRAPH_URL``,
plus ``POLICYKG_DATA``, ``POLICYKG_MODEL`` and ``POLICYKG_THREADS``), the data directory's ``policykg.toml``
(``[graph] url = …``; ``threads = 2`` at the top), then the defaults below. A :class:`Config` built in code is used as it is.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from policykg.api.errors import KnowledgeBaseError
from policykg.search.encoders import DEFAULT_MODEL
from policykg.search.local_index import COMPRESS_ABOVE
from policykg.search.milvus import DEFAULT_COLLECTION
from policykg.search.ranking import FusionWeights
from policykg.search.semantic_links import DEFAULT_THRESHOLD

CONFIG_FILE = "policykg.toml"
DEFAULT_DATA_DIR = "policykg-data"
Engine = Literal["local", "ray"]
IndexKind = Literal["auto", "flat", "hnsw", "ivf-sq8"]


@dataclass
class GraphConfig:
    """``[graph]``: the graph in a SPARQL 1.1 server (no ``url``: rdflib over the embedded store)."""

    url: str | None = None  # the query endpoint
    update_url: str | None = None  # the update endpoint (default: url)
    auth: str | None = None  # user:password (Basic) or digest:user:password
    batch: int = 5_000  # triples per INSERT DATA request (Virtuoso: a few hundred)
    store_url: str | None = None  # Graph Store protocol endpoint: one PUT per named graph
    allow_federation: bool = False  # let SPARQL SERVICE reach other endpoints (off: refused with 400)


@dataclass
class VectorsConfig:
    """``[vectors]``: passage vectors (and keywords) in Milvus (no ``url``: faiss beside the store)."""

    url: str | None = None
    collection: str = DEFAULT_COLLECTION
    token: str | None = None
    index_kind: IndexKind = "auto"  # faiss: auto | flat | hnsw | ivf-sq8
    compress_above: int = COMPRESS_ABOVE  # auto: exact (flat) up to this many passages, ivf-sq8 (~1/4 the memory) beyond
    nprobe: int = 0  # ivf-sq8: inverted lists visited per query (0: a sixteenth of them, at least 32)


@dataclass
class KeywordsConfig:
    """``[keywords]``: BM25 parameters (bm25s beside the store, or Milvus's BM25 with the vectors)."""

    k1: float = 1.2
    b: float = 0.75
    on_disk: bool = True  # bm25s: the score matrix stays in its files, read by column per query (False: held in memory)


@dataclass
class IngestConfig:
    """``[ingest]``: how documents are processed."""

    engine: Engine = "local"
    address: str | None = None  # Ray cluster address (default: a local Ray)
    embed_batch_size: int = 32
    # also embed each sentence of a passage of several (topic search scores a passage by its best sentence;
    # about a third more encoding and 3.5 sentence vectors a passage); false: whole passages only
    sentence_vectors: bool = True
    semantic_links: bool = True
    semantic_threshold: float = DEFAULT_THRESHOLD


@dataclass
class ServerConfig:
    """``[server]``: ``policykg serve`` defaults."""

    host: str = "127.0.0.1"
    port: int = 8000
    api_key_env: str = "POLICYKG_API_KEY"
    max_upload_mb: int = 50
    cors_origins: list[str] = field(default_factory=list)
    full_paths: bool = False  # answers show the absolute paths documents were ingested from (default: relative names)
    # the encoder's threads in the server when no top-level ``threads`` is set: requests run side by side, and
    # one thread each gives the most /search throughput (a query costs 2.9 ms of CPU on one thread, 4.0 on two)
    threads: int = 1


@dataclass
class Config:
    """Where the data lives, which model embeds, and which backend serves each part."""

    data_dir: Path = field(default_factory=lambda: Path(DEFAULT_DATA_DIR))
    model: str = DEFAULT_MODEL
    threads: int | None = None  # the encoder's and the index builds' threads (default: every core)
    graph: GraphConfig = field(default_factory=GraphConfig)
    vectors: VectorsConfig = field(default_factory=VectorsConfig)
    keywords: KeywordsConfig = field(default_factory=KeywordsConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    weights: FusionWeights = field(default_factory=FusionWeights)

    @property
    def servers(self) -> bool:
        """Whether any part lives in a server (then ``policykg sync`` has work to do)."""
        return bool(self.graph.url or self.vectors.url)


SECTIONS = ("graph", "vectors", "keywords", "ingest", "server")


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$POLICYKG_DATA``, else ``./policykg-data``."""
    env = os.environ if environ is None else environ
    return Path(env.get("POLICYKG_DATA") or DEFAULT_DATA_DIR)


def load_config(data_dir: str | Path | None = None, *, environ: Mapping[str, str] | None = None) -> Config:
    """The configuration for ``data_dir``: environment over ``policykg.toml`` over defaults."""
    env = os.environ if environ is None else environ
    config = Config(data_dir=Path(data_dir) if data_dir is not None else default_data_dir(env))
    if env.get("POLICYKG_MODEL"):
        config.model = env["POLICYKG_MODEL"]
    path = config.data_dir / CONFIG_FILE
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        table = {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise KnowledgeBaseError(f"{path}: cannot read the configuration ({exc})") from exc
    threads_hint = typing.get_type_hints(Config)["threads"]
    if env.get("POLICYKG_THREADS"):
        config.threads = _coerce(env["POLICYKG_THREADS"], threads_hint, "POLICYKG_THREADS")
    elif "threads" in table:
        config.threads = _check(table["threads"], threads_hint, f"{path}: threads")
    if config.threads is not None and config.threads < 1:
        raise KnowledgeBaseError(f"threads must be 1 or more, not {config.threads}")
    for name in SECTIONS:
        section = getattr(config, name)
        given = table.get(name, {})
        if not isinstance(given, dict):
            raise KnowledgeBaseError(f"{path}: [{name}] must be a table")
        hints = typing.get_type_hints(type(section))
        for f in dataclasses.fields(section):
            var = f"POLICYKG_{name}_{f.name}".upper()
            if var in env:
                setattr(section, f.name, _coerce(env[var], hints[f.name], var))
            elif f.name in given:
                setattr(section, f.name, _check(given[f.name], hints[f.name], f"{path}: {name}.{f.name}"))
    return config


def _kinds(hint: Any) -> tuple[Any, ...]:
    """The types a field accepts (``str | None`` → (str, NoneType); a Literal → its values)."""
    args = typing.get_args(hint)
    return args if args else (hint,)


def _check(value: Any, hint: Any, where: str) -> Any:
    """A value from policykg.toml, checked against the field's type."""
    kinds = _kinds(hint)
    if typing.get_origin(hint) is Literal:
        if value not in kinds:
            raise KnowledgeBaseError(f"{where} must be one of {', '.join(map(str, kinds))}, not {value!r}")
        return value
    if typing.get_origin(hint) is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise KnowledgeBaseError(f"{where} must be a list of strings")
        return value
    if float in kinds and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not any(k is not type(None) and isinstance(value, k) and not (k is int and isinstance(value, bool)) for k in kinds):
        names = " or ".join(_name(k) for k in kinds if k is not type(None))
        raise KnowledgeBaseError(f"{where} must be a {names}")
    return value


def _coerce(raw: str, hint: Any, var: str) -> Any:
    """A value from an environment variable, converted to the field's type."""
    kinds = _kinds(hint)
    if typing.get_origin(hint) is list:
        return [part.strip() for part in raw.split(",") if part.strip()]
    if typing.get_origin(hint) is Literal:
        return _check(raw, hint, var)
    try:
        if bool in kinds:
            if raw.lower() not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                raise ValueError(raw)
            return raw.lower() in ("1", "true", "yes", "on")
        if int in kinds:
            return int(raw)
        if float in kinds:
            return float(raw)
    except ValueError as exc:
        raise KnowledgeBaseError(f"{var} must be a {_name(kinds[0])}, not {raw!r}") from exc
    return raw or None if type(None) in kinds else raw


def _name(kind: Any) -> str:
    return {str: "string", int: "number", float: "number", bool: "boolean"}.get(kind, getattr(kind, "__name__", str(kind)))


__all__ = [
    "CONFIG_FILE",
    "Config",
    "GraphConfig",
    "IngestConfig",
    "KeywordsConfig",
    "ServerConfig",
    "VectorsConfig",
    "default_data_dir",
    "load_config",
]
