#!/usr/bin/env python3
"""Writes public/samples.json: the page's picker of sample problems, a few dozen rows copied
unchanged from ../shared/data (GSM8K test MIT, MATH-500 MIT, MBPP CC-BY-4.0; see SOURCES.md
there). Each entry keeps the raw JSONL row so the page parses it with the pipeline's own
`Problem::from_row`. Usage: python3 scripts/make-samples.py [DATA_DIR]"""
import json
import sys
from pathlib import Path

data = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "../shared/data")
picks = [("gsm8k", "gsm8k_test_dev.jsonl", range(0, 16)), ("math", "math500_dev.jsonl", None), ("mbpp", "mbpp_dev.jsonl", range(10, 20))]
samples = []
for task, name, lines in picks:
    rows = (data / name).read_text().splitlines()
    if lines is None:  # the shortest MATH problems: what a class can read at a glance
        lines = sorted(range(len(rows)), key=lambda i: len(json.loads(rows[i])["problem"]))[:10]
        lines = sorted(lines)
    for i in lines:
        row = json.loads(rows[i])
        title = row.get("question") or row.get("problem") or row.get("text")
        samples.append({"task": task, "index": i, "title": " ".join(title.split())[:90], "row": rows[i]})
out = Path(__file__).resolve().parents[1] / "public/samples.json"
out.write_text(json.dumps(samples, ensure_ascii=False, indent=0) + "\n")
print(f"{len(samples)} samples -> {out}")
