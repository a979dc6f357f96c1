#!/usr/bin/env python3
"""Validate bench/data/queries.jsonl against the read-only corpus.

Usage: python3 check_queries.py [CORPUS_DIR] [QUERIES_FILE]
CORPUS_DIR defaults to ../../../shared/corpus relative to this script;
QUERIES_FILE defaults to queries.jsonl next to this script.
Exits non-zero if any line fails validation.
"""
import collections
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
KINDS = {"lay", "topic", "paraphrase", "keyword"}


def main(argv):
    corpus = argv[1] if len(argv) > 1 else os.path.join(HERE, "..", "..", "..", "shared", "corpus")
    qfile = argv[2] if len(argv) > 2 else os.path.join(HERE, "queries.jsonl")
    corpus = os.path.normpath(corpus)
    errors = []
    texts = {}
    seen_ids = set()
    kinds = collections.Counter()
    n_rel = 0

    def text_of(path):
        if path not in texts:
            full = os.path.join(corpus, path)
            if not os.path.isfile(full):
                texts[path] = None
            else:
                with open(full, encoding="utf-8") as fh:
                    texts[path] = fh.read()
        return texts[path]

    with open(qfile, encoding="utf-8") as fh:
        lines = fh.read().split("\n")
    for ln, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"line {ln}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            errors.append(f"{where}: invalid JSON: {e}")
            continue
        if not isinstance(obj, dict):
            errors.append(f"{where}: not an object")
            continue
        qid = obj.get("id")
        where = f"line {ln} ({qid})"
        if not isinstance(qid, str) or not qid:
            errors.append(f"{where}: missing id")
        elif qid in seen_ids:
            errors.append(f"{where}: duplicate id")
        else:
            seen_ids.add(qid)
        if not isinstance(obj.get("q"), str) or not obj["q"].strip():
            errors.append(f"{where}: missing query text 'q'")
        kind = obj.get("kind")
        if kind not in KINDS:
            errors.append(f"{where}: bad kind {kind!r}")
        kinds[kind] += 1
        rel = obj.get("relevant")
        if not isinstance(rel, list) or not rel:
            errors.append(f"{where}: 'relevant' must be a non-empty list")
            continue
        seen_items = set()
        for item in rel:
            n_rel += 1
            if not isinstance(item, dict) or "path" not in item:
                errors.append(f"{where}: relevant item without path: {item!r}")
                continue
            path = item["path"]
            has_a, has_q = "article" in item, "quote" in item
            if has_a == has_q:
                errors.append(f"{where}: item must have exactly one of article/quote: {item!r}")
                continue
            key = (path, item.get("article"), item.get("quote"))
            if key in seen_items:
                errors.append(f"{where}: duplicate relevant item {item!r}")
            seen_items.add(key)
            text = text_of(path)
            if text is None:
                errors.append(f"{where}: path not found in corpus: {path}")
                continue
            if has_a:
                art = item["article"]
                if not re.fullmatch(r"第[一二三四五六七八九十百千零〇]+条", art or ""):
                    errors.append(f"{where}: malformed article id {art!r}")
                    continue
                if not re.search(r"^" + re.escape(art) + r"[ \u3000]", text, re.M):
                    errors.append(f"{where}: article {art} not found at a line start in {path}")
            else:
                quote = item["quote"]
                if not isinstance(quote, str) or not 10 <= len(quote) <= 40:
                    errors.append(f"{where}: quote length {len(quote) if isinstance(quote, str) else '?'} not in 10..40: {quote!r}")
                    continue
                if "\n" in quote:
                    errors.append(f"{where}: quote spans lines: {quote!r}")
                c = text.count(quote)
                if c != 1:
                    errors.append(f"{where}: quote occurs {c} times in {path}: {quote!r}")

    for e in errors:
        print("ERROR", e)
    total = sum(kinds.values())
    print(f"queries: {total}, relevant items: {n_rel}")
    for k in sorted(kinds, key=str):
        print(f"  {k}: {kinds[k]}")
    if errors:
        print(f"FAILED: {len(errors)} error(s)")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
