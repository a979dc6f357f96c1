"""The Ray Data ingest engine: the document step on a Ray cluster; the driver stores the results.

Two stages run :class:`~policykg.ingest.pipeline.DocumentStep`: ``prepare_row`` (read + extract, a
plain task) turns each file into a :class:`~policykg.ingest.pipeline.Prepared`, a one-line error, or
"unchanged" when the store already holds it; then :class:`EmbedActor` (an actor pool, each actor
holding the embedding model) cuts, embeds and tokenises the passages; Ray Data fuses the two into the
actors' tasks. Results stream back to the driver in input order (the store's merge of regulations and
units keeps the first writer, so the order must match the local engine's), one per file.

Rows are Arrow-friendly: the documents travel as pickled bytes. Every node of a cluster needs
policykg (with the ``search`` extra) installed and the files at the same paths.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import os
import pickle
import socket
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from policykg.ingest.metadata import Metadata
from policykg.ingest.pipeline import DocumentStep, Embedded, Known, Prepared, failure
from policykg.ingest.protocols import Encoder

if TYPE_CHECKING:
    import pyarrow as pa

PREPARED, UNCHANGED, FAILED, EMBEDDED = "prepared", "unchanged", "failed", "embedded"
DOCS_PER_BATCH = 2  # documents per call of an embedding actor
LOCAL_START_ATTEMPTS = 2
_PICKLE = pickle.HIGHEST_PROTOCOL
_CLUSTERS_VAR = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


class RayUnavailable(Exception):
    """Ray is not installed, or the cluster cannot be reached: one line for the user."""


def _row(row: dict[str, Any], status: str, payload: bytes = b"", error: str = "") -> dict[str, Any]:
    return {"index": int(row["index"]), "path": str(row["path"]), "status": status, "payload": payload, "error": error}


def prepare_row(row: dict[str, Any], step: DocumentStep, known: Known) -> dict[str, Any]:
    """Stage 1 (a plain task): read and extract one file; errors become its one-line result."""
    path = Path(row["path"])
    try:
        meta: Metadata = pickle.loads(row["meta"])
    except Exception as exc:
        return _row(row, FAILED, error=failure(path, exc))
    prepared = step.prepare(path, meta, known)
    if prepared is None:
        return _row(row, UNCHANGED)
    if isinstance(prepared, str):
        return _row(row, FAILED, error=prepared)
    return _row(row, PREPARED, payload=pickle.dumps(prepared, protocol=_PICKLE))


def _schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema([
        ("index", pa.int64()), ("path", pa.string()), ("status", pa.string()), ("payload", pa.binary()), ("error", pa.string()),
    ])


class EncoderFactory(Protocol):
    """Loads an encoder that uses ``threads`` CPU threads (picklable: it travels to the actors)."""

    def __call__(self, *, threads: int | None = None) -> Encoder: ...


class EmbedActor:
    """Stage 2 (an actor): holds the embedding model and embeds the prepared documents of a batch."""

    def __init__(self, encoder_factory: EncoderFactory, step: DocumentStep, threads: int | None = None) -> None:
        self.encoder_factory = encoder_factory
        self.step = step
        self.threads = threads or 1
        self._encoder: Encoder | None = None

    def encoder(self) -> Encoder:
        """The model, loaded once, at the first document to embed: a re-ingest of unchanged files
        (every row already "unchanged") loads none. It gets the actor's thread count (an encoder
        applies its own before each call, all cores by default): actors must not oversubscribe."""
        if self._encoder is None:
            self._encoder = self.encoder_factory(threads=self.threads)
        return self._encoder

    def __call__(self, batch: pa.Table) -> pa.Table:
        """Embed the batch's prepared documents with one encoder call (their passages batched together by
        length, as the local engine does); a document that fails is reported alone."""
        import pyarrow as pa

        out = batch.to_pylist()
        todo: list[tuple[int, Prepared]] = []
        for i, row in enumerate(out):
            if row["status"] == PREPARED:
                try:
                    todo.append((i, pickle.loads(row["payload"])))
                except Exception as exc:
                    out[i] = _row(row, FAILED, error=failure(Path(row["path"]), exc))
        if todo:
            try:
                results: list[Embedded | str] = self.step.embed_many([p for _, p in todo], self.encoder())
            except Exception as exc:  # the model itself failed to load: every document of the batch says so
                results = [failure(Path(out[i]["path"]), exc) for i, _ in todo]
            for (i, _), ready in zip(todo, results, strict=True):
                row = out[i]
                out[i] = (_row(row, FAILED, error=ready) if isinstance(ready, str)
                          else _row(row, EMBEDDED, payload=pickle.dumps(ready, protocol=_PICKLE)))
        return pa.Table.from_pylist(out, schema=_schema())


def _loopback_only() -> Callable[[], None]:
    """Make the next local Ray listen on 127.0.0.1 only; returns the undo.

    Ray reads ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` once, when it is imported: unless it is 0, Ray
    swaps ``127.0.0.1`` for the machine's address and its servers listen on every interface. So the
    variable is set before ``import ray``, and Ray's constant too in case Ray was imported before.
    """
    old_env = os.environ.get(_CLUSTERS_VAR)
    os.environ[_CLUSTERS_VAR] = "0"
    consts: Any = None
    with contextlib.suppress(ImportError):
        consts = importlib.import_module("ray._private.ray_constants")  # imports ray: it reads the variable
    known = hasattr(consts, "ENABLE_RAY_CLUSTER") and hasattr(consts, "env_bool")
    if known:
        consts.ENABLE_RAY_CLUSTER = False

    def undo() -> None:
        if old_env is None:
            os.environ.pop(_CLUSTERS_VAR, None)
        else:
            os.environ[_CLUSTERS_VAR] = old_env
        if known:  # back to what Ray computes at import
            consts.ENABLE_RAY_CLUSTER = consts.env_bool(_CLUSTERS_VAR, not getattr(consts, "IS_WINDOWS_OR_OSX", False))

    return undo


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast on a cluster address nothing listens on: ``ray.init`` would wait for minutes."""
    if address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        raise RayUnavailable(f"Ray cluster address {address!r}: expected HOST:PORT (e.g. 127.0.0.1:6379)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise RayUnavailable(f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}); is `ray start --head` running there?") from exc


def _start_ray(address: str | None) -> Callable[[], None] | None:
    """Connect to ``address`` (else ``$RAY_ADDRESS``) or start a local Ray on 127.0.0.1.

    Returns how to stop what this call started, or None when Ray was already initialised (the
    caller's Ray is reused and left running).
    """
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        _check_reachable(address)
    undo = None if address else _loopback_only()  # before the first ``import ray``
    try:
        import ray
    except ImportError as exc:
        if undo:
            undo()
        raise RayUnavailable("the ray engine needs Ray: pip install 'policykg[ray]'") from exc
    if ray.is_initialized():
        if undo:
            undo()
        return None
    # a local Ray gives its raylet a fixed 30 s to register, which a loaded machine can miss: try twice
    attempts = 1 if address else LOCAL_START_ATTEMPTS
    for attempt in range(attempts):
        try:
            if address:
                ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
            else:
                os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
                ray.init(
                    address="local", num_cpus=os.cpu_count(), include_dashboard=False, _node_ip_address="127.0.0.1",
                    log_to_driver=False, logging_level=logging.ERROR,
                )
            break
        except Exception as exc:
            with contextlib.suppress(Exception):
                ray.shutdown()  # stops what the failed start left running
            if attempt + 1 < attempts:
                continue
            if undo:
                undo()
            where = f"the Ray cluster at {address}" if address else "a local Ray"
            raise RayUnavailable(f"cannot start {where} ({type(exc).__name__}: {_first_line(exc)})") from exc

    def stop() -> None:
        ray.shutdown()
        if undo:
            undo()

    return stop


class RayEngine:
    """The document step on Ray (:class:`~policykg.ingest.pipeline.Engine`).

    ``address``: a cluster (``HOST:PORT``, ``$RAY_ADDRESS``), else a local Ray on 127.0.0.1.
    ``threads``: CPU threads of each embedding actor (1 by default); ``concurrency``: the number of
    actors (the cluster's CPUs, at most one per file, by default). Every node of a cluster needs
    policykg installed and the files at the same paths.
    """

    def __init__(
        self, encoder_factory: EncoderFactory, *, address: str | None = None, threads: int | None = None,
        concurrency: int | None = None,
    ) -> None:
        self.encoder_factory = encoder_factory
        self.address = address
        self.threads = threads
        self.concurrency = concurrency

    def run(
        self, items: Sequence[tuple[Path, Metadata]], step: DocumentStep, known: Known,
    ) -> Iterator[tuple[Path, Embedded | str | None]]:
        return embed_with_ray(
            items, step, known, self.encoder_factory, address=self.address, threads=self.threads, concurrency=self.concurrency,
        )


def embed_with_ray(
    items: Sequence[tuple[Path, Metadata]],
    step: DocumentStep,
    known: Known,
    encoder_factory: EncoderFactory,
    *,
    address: str | None = None,
    threads: int | None = None,
    concurrency: int | None = None,
) -> Iterator[tuple[Path, Embedded | str | None]]:
    """Run ``step`` over ``items`` on Ray; yield ``(path, result)`` once per item, in input order.

    ``result`` is an :class:`~policykg.ingest.pipeline.Embedded` ready to store, None when ``known``
    holds the file (not embedded), or a one-line error ``"<file name>: <reason>"``. A Ray started here
    is shut down at the end; one initialised by the caller is reused and left running.
    """
    if not items:
        return
    loggers = [logging.getLogger(name) for name in ("ray", "ray.data")]
    levels = [lg.level for lg in loggers]
    stop = _start_ray(address)
    import ray
    from ray.data import ActorPoolStrategy, DataContext

    ctx = DataContext.get_current()
    # quiet and ordered, for this run only (attributes that an older Ray lacks are left alone)
    settings = [
        (ctx, "enable_progress_bars", False), (ctx, "enable_operator_progress_bars", False),
        (ctx, "print_on_execution_start", False), (ctx.execution_options, "verbose_progress", False),
        (ctx.execution_options, "preserve_order", True),
    ]
    saved = [(obj, name, getattr(obj, name)) for obj, name, _ in settings if hasattr(obj, name)]
    paths = [Path(p) for p, _ in items]
    done: set[int] = set()
    try:
        for obj, name, value in settings:
            if hasattr(obj, name):
                setattr(obj, name, value)
        logging.getLogger("ray.data").setLevel(logging.ERROR)  # "progress bars disabled", execution plans
        cpus = int(ray.cluster_resources().get("CPU", 1))
        actors = max(1, min(concurrency or cpus, len(items)))
        rows = [
            {"index": i, "path": str(path.absolute()), "meta": pickle.dumps(meta, protocol=_PICKLE)}
            for i, (path, (_, meta)) in enumerate(zip(paths, items, strict=True))
        ]
        ds = (
            ray.data.from_items(rows, override_num_blocks=len(rows))
            .map(functools.partial(prepare_row, step=step, known=known))
            .map_batches(
                EmbedActor, fn_constructor_kwargs={"encoder_factory": encoder_factory, "step": step, "threads": threads},
                compute=ActorPoolStrategy(size=actors, max_tasks_in_flight_per_actor=1),  # spread the batches
                batch_size=DOCS_PER_BATCH, num_cpus=1, batch_format="pyarrow",
            )
        )
        try:
            for row in ds.iter_rows():
                i = int(row["index"])
                if i in done:
                    continue
                done.add(i)
                try:
                    result = _result(row)
                except Exception as exc:  # e.g. a payload that does not unpickle here
                    result = failure(paths[i], exc)
                yield paths[i], result
        except Exception as exc:  # the cluster failed: the files not yet back are reported, not lost
            reason = f"not processed, the ray engine failed ({type(exc).__name__}: {_first_line(exc)})"
            for i, path in enumerate(paths):
                if i not in done:
                    done.add(i)
                    yield path, f"{path.name}: {reason}"
        for i, path in enumerate(paths):  # never expected: a row that did not come back
            if i not in done:
                yield path, f"{path.name}: not processed, lost by the ray engine"
    finally:
        for obj, name, value in saved:
            setattr(obj, name, value)
        if stop is not None:
            stop()
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0][:300] if lines else ""


def _result(row: dict[str, Any]) -> Embedded | str | None:
    status = row["status"]
    if status == EMBEDDED:
        ready: Embedded = pickle.loads(row["payload"])
        return ready
    if status == UNCHANGED:
        return None
    if status == FAILED:
        return str(row["error"])
    return f"{Path(row['path']).name}: could not be processed (unexpected ray stage status {status!r})"


__all__ = ["EmbedActor", "EncoderFactory", "RayEngine", "RayUnavailable", "embed_with_ray", "prepare_row"]
