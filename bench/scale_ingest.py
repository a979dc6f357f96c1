"""bench/scale.py, parts 1 and 2: a synthetic corpus grown from the real one, and ingest with the local engine
against ``engine="ray"`` (with Ray's startup timed on its own)."""

from __future__ import annotations

import contextlib
import csv
import os
import random
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from common import error_text, log, rss_mb
from processes import ChildWatch

# ------------------------------------------------------------------------------ 1. synthetic corpus

_YEAR = re.compile(r"(?<![\d.])((?:19|20)\d{2})(?=\s*年)")
_NUMBER = re.compile(r"(?<![\d.])\d+(?:\.\d+)?(?![\d.])")
_SENTENCE = re.compile(r"(?<=[。！？；])")


def virtual_issuer(issuer: str, copy: int) -> str:
    """深圳市人民政府 → 虚拟市N人民政府, 天津市科学技术局 → 虚拟市N科学技术局, 中华人民共和国国务院 → 虚拟省N人民政府."""
    if "国务院" in issuer:
        return f"虚拟省{copy}人民政府"
    m = re.match(r"(.+?市)(.*)", issuer)
    return f"虚拟市{copy}{m.group(2)}" if m else f"虚拟{copy}{issuer}"


def shift_years(text: str, shift: int) -> str:
    return _YEAR.sub(lambda m: str(int(m.group(1)) + shift), text)


def perturb_text(text: str, rng: random.Random, shift: int) -> str:
    """Years (19xx/20xx) + ``shift``; other numbers from 100 up x U(0.7, 1.3) (smaller ones are list markers and
    counts); in paragraphs of 3+ sentences the sentences after the first are shuffled (p 0.3) and one is
    dropped (p 0.2). The first sentence (a heading, 第N条 …) stays first."""

    def number(m: re.Match[str]) -> str:
        s = m.group(0)
        if "." in s:
            decimals = len(s.split(".")[1])
            return f"{float(s) * rng.uniform(0.7, 1.3):.{decimals}f}"
        if len(s) == 4 and s[:2] in ("19", "20"):
            return str(int(s) + shift)
        if int(s) < 100:
            return s
        return str(max(1, round(int(s) * rng.uniform(0.7, 1.3))))

    out = []
    for line in text.split("\n"):
        line = _NUMBER.sub(number, line)
        parts = [p for p in _SENTENCE.split(line) if p]
        if len(parts) >= 3:
            head, rest = parts[0], parts[1:]
            if rng.random() < 0.3:
                rng.shuffle(rest)
            if rng.random() < 0.2 and len(rest) > 1:
                rest.pop(rng.randrange(len(rest)))
            line = head + "".join(rest)
        out.append(line)
    return "\n".join(out)


def grow_corpus(corpus: Path, out: Path, grow: int, seed: int = 0) -> tuple[Path, list[dict[str, str]]]:
    """``grow`` relabelled, perturbed copies of every manifest row as UTF-8 .txt files + a manifest CSV."""
    with (corpus / "manifest.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    rng = random.Random(seed)
    made: list[dict[str, str]] = []
    for c in range(1, grow + 1):
        (out / f"c{c:03d}").mkdir(parents=True, exist_ok=True)
        for row in rows:
            text = (corpus / row["path"]).read_text(encoding="utf-8")
            title, issuer = row["title"], row.get("issuer") or ""
            if issuer:
                new_issuer = virtual_issuer(issuer, c)
                text = text.replace(issuer, new_issuer)
                title = title.replace(issuer, new_issuer).replace("国务院", new_issuer.removesuffix("人民政府"))
                for place in ("深圳市", "天津市", "深圳", "天津"):
                    text, title = text.replace(place, f"虚拟市{c}"), title.replace(place, f"虚拟市{c}")
                issuer = new_issuer
            if row["doc_type"] == "regulation":  # a local regulation of a virtual city: a distinct name
                new_title = f"虚拟市{c}" + title.removeprefix("中华人民共和国")
                text, title = text.replace(title, new_title), new_title
            text = perturb_text(text, rng, c)
            title = shift_years(title, c)
            rel = f"c{c:03d}/{Path(row['path']).stem}.txt"
            (out / rel).write_text(text, encoding="utf-8")
            year = str(int(row["year"]) + c) if (row.get("year") or "").strip() else ""
            published = str(int(row["published"]) + c) if (row.get("published") or "").strip().isdigit() else ""
            made.append({"path": rel, "doc_type": row["doc_type"], "title": title, "issuer": issuer, "year": year, "published": published})
    manifest = out / "manifest.csv"
    with manifest.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["path", "doc_type", "title", "issuer", "year", "published"])
        writer.writeheader()
        writer.writerows(made)
    return manifest, made


# ------------------------------------------------------------------------------------ 2. ingest


def ray_startup(temp_dir: Path, threads: int) -> dict[str, Any]:
    """ray.init (local, loopback, no dashboard) and ray.shutdown, timed; leftovers stopped by PID."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # before import ray: listen on 127.0.0.1 only
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import logging

    t0 = time.perf_counter()
    import ray

    res: dict[str, Any] = {"import_s": time.perf_counter() - t0}
    with ChildWatch("ray") as watch:
        try:
            t0 = time.perf_counter()
            ray.init(
                num_cpus=threads, _node_ip_address="127.0.0.1", include_dashboard=False, _temp_dir=str(temp_dir),
                log_to_driver=False, logging_level=logging.ERROR,
            )
            res["init_s"] = time.perf_counter() - t0
            res["rss_ray_mb"] = rss_mb(children=True) - rss_mb()
        finally:
            t0 = time.perf_counter()
            ray.shutdown()
            res["shutdown_s"] = time.perf_counter() - t0
    res["leftovers_stopped"] = watch.leftovers()
    return res


def work_ingest(spec: dict[str, Any]) -> dict[str, Any]:
    """Local ingest then ``engine="ray"`` ingest of the same files into two new data directories."""
    from policykg.api.config import Config
    from policykg.api.kb import KnowledgeBase

    threads = spec["threads"]
    tmp = Path(spec["tmp"])
    files = [Path(p) for p in spec["files"]]
    manifest = Path(spec["manifest"])
    res: dict[str, Any] = {"files": len(files), "bytes": sum(f.stat().st_size for f in files), "threads": threads}

    def config() -> Config:
        return Config(threads=threads)  # embedded: no servers

    def count(kb: KnowledgeBase) -> dict[str, int]:
        c = kb.store.counts()
        return {"documents": c["documents"], "passages": c["passages"], "measures": c["measures"], "links": sum(c["links"].values())}

    ray_tmp = Path(tempfile.mkdtemp(prefix="r", dir="/tmp"))  # short: Ray's socket paths are length-limited
    os.environ["RAY_TMPDIR"] = str(ray_tmp)
    try:
        log("  ray startup ...")
        try:
            res["ray_startup"] = ray_startup(ray_tmp, threads)
        except Exception as exc:
            res["ray_startup"] = {"error": error_text(exc, 200)}

        log("  local ingest ...")
        kb = KnowledgeBase(tmp / "local", config=config())
        t0 = time.perf_counter()
        kb.encoder().encode_passages(["预热"])
        res["model_load_s"] = time.perf_counter() - t0
        t0, c0 = time.perf_counter(), time.process_time()
        rep = kb.ingest(files, manifest=manifest)
        res["local"] = {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0, "failed": rep.failed[:3], **count(kb)}
        kb.close()

        log("  ray ingest ...")
        kb = KnowledgeBase(tmp / "ray", config=config())
        with ChildWatch("ray") as watch:
            t0 = time.perf_counter()
            try:
                rep = kb.ingest(files, manifest=manifest, engine="ray")
                res["ray"] = {"wall_s": time.perf_counter() - t0, "failed": rep.failed[:3], **count(kb)}
            except Exception as exc:
                res["ray"] = {"error": error_text(exc)}
            finally:
                kb.close()
                with contextlib.suppress(Exception):
                    import ray

                    if ray.is_initialized():
                        ray.shutdown()
        res["ray_leftovers_stopped"] = watch.leftovers()
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    return res
