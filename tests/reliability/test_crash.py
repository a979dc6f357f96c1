"""Crash safety: SIGKILL an ingest or a removal at random points; the store stays whole and a rerun completes."""

from __future__ import annotations

import random
import shutil
import time
from pathlib import Path

import pytest

from policykg.api.kb import KnowledgeBase
from policykg.search.local_index import read_generation
from tests.conftest import HashingEncoder
from tests.reliability.helpers import (
    BATCH_REGULATIONS,
    BATCH_REPORTS,
    batch_files,
    check_consistent,
    kill_at_random,
    per_document_counts,
    removal_state,
    spawn_ingest,
    spawn_remove,
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
        kills += kill_at_random(spawn_ingest(data, files), rng, duration)

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


REMOVAL_TRIALS = 16
STRETCH = 0.15


@pytest.mark.slow
def test_sigkill_during_removal(corpus: Path, tmp_path: Path) -> None:
    """A report and a regulation held in full (which reports cite: relinking has work) removed by path;
    killed at random points, each is either whole or gone with its tombstone, never half; a rerun
    of the removal ends in the state of an uninterrupted one."""
    files = batch_files(corpus)
    base = tmp_path / "base"
    base_kb = KnowledgeBase(base, encoder=HashingEncoder())
    assert base_kb.ingest(files).ok
    reference = per_document_counts(base_kb)
    targets = [str((corpus / BATCH_REPORTS[0]).resolve()), str((corpus / BATCH_REGULATIONS[0]).resolve())]
    target_ids = [next(d for d in base_kb.store.document_paths().items() if d[1] == t)[0] for t in targets]
    base_kb.close()

    done = tmp_path / "done"  # the uninterrupted removal, in a child like the trials (also how long it takes)
    shutil.copytree(base, done)
    probe = spawn_remove(done, targets)
    wait_ready(probe)
    t0 = time.monotonic()
    assert probe.communicate(timeout=120)[0].split() == ["done", *target_ids]
    duration = time.monotonic() - t0
    done_kb = KnowledgeBase(done, encoder=HashingEncoder())
    expected, expected_links = done_kb.stats(), sorted(map(repr, done_kb.store.links()))
    assert expected["documents"] == len(files) - 2 and expected_links
    done_kb.close()

    rng = random.Random(SEED + 1)
    kills = 0
    outcomes: dict[str, int] = {}
    for trial in range(REMOVAL_TRIALS):
        data = tmp_path / f"removal-{trial}"
        shutil.copytree(base, data)
        stretch = STRETCH if trial % 2 else 0.0  # every other trial holds the transaction open for 4 × STRETCH
        kills += kill_at_random(spawn_remove(data, targets, stretch=stretch), rng, duration + 4 * stretch)

        kb = KnowledgeBase(data, encoder=HashingEncoder())
        try:
            check_consistent(kb, reference)
            states = [removal_state(kb, doc_id, reference) for doc_id in target_ids]
            assert len(set(states)) == 1, f"one transaction, yet {states}"
            outcomes[states[0]] = outcomes.get(states[0], 0) + 1
            report = kb.remove(targets)
            assert sorted(report.removed + report.already_removed) == sorted(target_ids)
            assert kb.stats() == expected and sorted(map(repr, kb.store.links())) == expected_links
            assert all(removal_state(kb, doc_id, reference) == "removed" for doc_id in target_ids)
            check_consistent(kb, reference)
            assert read_generation(data / "index") == kb.store.generation(), "the rerun left stale index files"
            assert all(h.doc_id not in target_ids for h in kb.search("科技成果转化", k=50))
        finally:
            kb.close()
        shutil.rmtree(data)
    print(f"\ncrash safety: {REMOVAL_TRIALS} removal trials, {kills} SIGKILLs survived "
          f"(removal {duration:.2f} s; states found {outcomes})")
    assert kills >= REMOVAL_TRIALS // 2
    assert outcomes.get("present") and outcomes.get("removed"), outcomes
