"""Stopping what a bench part started, by PID: recording PIDs where the main process finds them, watching a
process's descendants (Ray's), and stopping the recorded ones that are still running (checked by creation
time, so a reused PID is left alone)."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path


def record_pids(pids: Sequence[int], name: str) -> None:
    """Write PIDs where the main process stops them if a worker dies ($POLICYKG_TEST_PIDS)."""
    import psutil

    pid_dir = os.environ.get("POLICYKG_TEST_PIDS")
    if not pid_dir:
        return
    Path(pid_dir).mkdir(parents=True, exist_ok=True)
    for pid in pids:
        with contextlib.suppress(psutil.Error, OSError):
            (Path(pid_dir) / f"{pid}.pid").write_text(f"{name} {psutil.Process(pid).create_time()}")


def stop_pids(pids: dict[int, float]) -> list[int]:
    """SIGTERM then SIGKILL each PID (with its creation time, so a reused PID is left alone); the stopped ones."""
    import psutil

    alive = []
    for pid, created in pids.items():
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            if abs(process.create_time() - created) < 0.01 and process.status() != psutil.STATUS_ZOMBIE:
                process.terminate()
                alive.append(process)
    _, still = psutil.wait_procs(alive, timeout=10)
    for process in still:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(still, timeout=10)
    return [process.pid for process in alive]


class ChildWatch:
    """Remember every descendant process of this one while running (Ray's processes), to stop leftovers by PID."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _scan(self) -> None:
        import psutil

        new = []
        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if child.pid not in self.seen:
                    self.seen[child.pid] = child.create_time()
                    new.append(child.pid)
        record_pids(new, self.name)

    def _loop(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(Exception):
                self._scan()
            self._stop.wait(0.2)

    def __enter__(self) -> ChildWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def leftovers(self) -> list[int]:
        """Stop the descendants seen that still run (after ray.shutdown there should be none)."""
        return stop_pids(self.seen)


def reap(pid_dir: Path, tmp: Path) -> list[int]:
    """Stop the processes a worker recorded and left running: servers (their data under ``tmp``) and Ray's."""
    import psutil

    todo: dict[int, float] = {}
    for pid_file in pid_dir.glob("*.pid") if pid_dir.exists() else []:
        with contextlib.suppress(ValueError, psutil.Error, OSError):
            pid = int(pid_file.stem)
            words = pid_file.read_text().split()
            process = psutil.Process(pid)
            if len(words) > 1:  # "ray <create time>"
                todo[pid] = float(words[1])
            elif str(tmp) in " ".join(process.cmdline()):  # a server of servers.py, data in our temp dir
                todo[pid] = process.create_time()
        pid_file.unlink(missing_ok=True)
    return stop_pids(todo) if todo else []
