"""Crash safety: SIGKILL an ingest at random points; the store stays whole and a rerun completes."""

from __future__ import annotations

import random
import shutil
import signal
import time
from pathlib import Path

import pytest

from policykg.api.kb import KnowledgeBase
from policykg.search.local_index import read_generation
from tests.conftest import HashingEncoder
from tests.reliability.helpers import (
    batch_files,
    check_consistent,
    per_document_counts,
    spawn_ingest,
    wait_ready,
)

TRIALS = 24
SEED = 20240611


@pytest.mark.slow
def test_sigkill_during_ingest(corpus: Path, tmp_path: Path) -> None:
    files = batch_files(corpus)
    ref_kb = KnowledgeBase(tmp_path / "reference", encoder=HashingEncoder())
    assert ref_kb.ingest(files).ok
    reference = per_document_counts(ref_kb)
    full = ref_kb.stats()
    ref_kb.close()
    assert len(reference) == len(files)

    # a store already holding the first three files: kills then also land in "unchanged" and relinking
    seeded = tmp_path / "seeded"
    seed_kb = KnowledgeBase(seeded, encoder=HashingEncoder())
    assert seed_kb.ingest(files[:3]).ok
    seed_kb.close()

    # how long the child's ingest takes (after its imports), so kill delays fall inside it
    probe = spawn_ingest(tmp_path / "probe", files)
    wait_ready(probe)
    t0 = time.monotonic()
    assert probe.communicate(timeout=120)[0].strip() == "done"
    duration = time.monotonic() - t0

    rng = random.Random(SEED)
    kills = 0
    for trial in range(TRIALS):
        data = tmp_path / f"trial-{trial}"
        if trial % 3 == 2:
            shutil.copytree(seeded, data)
        proc = spawn_ingest(data, files)
        wait_ready(proc)
        time.sleep(rng.uniform(0.0, duration))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.communicate(timeout=60)

        kb = KnowledgeBase(data, encoder=HashingEncoder())
        try:
            check_consistent(kb, reference)
            report = kb.ingest(files)
            assert report.ok, report.failed
            assert per_document_counts(kb) == reference
            assert kb.stats() == full
            check_consistent(kb, reference)
            assert read_generation(data / "index") == kb.store.generation(), "the rerun left stale index files"
            leftovers = [p.name for p in data.iterdir() if p.name.startswith(".index-")]
            assert not leftovers, f"temporary index directories left behind: {leftovers}"
        finally:
            kb.close()
        shutil.rmtree(data)
    print(f"\ncrash safety: {TRIALS} trials, {kills} SIGKILLs mid-ingest survived (ingest {duration:.1f} s)")
    assert kills >= TRIALS // 2
