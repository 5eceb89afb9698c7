#!/usr/bin/env python3
"""Who was right when a solution and its program disagreed, in `cotnpot eval` records of a
numeric task (GSM8K): counts of the candidates the filter dropped whose program printed a plain
number, split by whether the solution's answer and the printed number equal the gold answer.

Usage: scripts/disagreements.py RESULTS.jsonl
"""
import collections
import json
import sys


def number(text):
    if text is None:
        return None
    try:
        return float(text.replace(",", "").replace("$", "").replace("%", "").strip())
    except ValueError:
        return None


def equal(a, b):
    return a is not None and b is not None and abs(a - b) <= 1e-4 * max(abs(a), abs(b), 1e-5)


counts = collections.Counter()
for line in open(sys.argv[1]):
    record = json.loads(line)
    gold = number(record["gold"])
    for c in record["candidates"]:
        printed = number(c["pot_result"])
        if c["kept"] or printed is None:
            continue
        solution = "solution right" if equal(number(c["answer"]), gold) else "solution wrong"
        program = "program right" if equal(printed, gold) else "program wrong"
        counts[f"{solution}, {program}"] += 1
for key, n in sorted(counts.items()):
    print(f"{key}: {n}")
print(f"dropped with a printed number: {sum(counts.values())}")
