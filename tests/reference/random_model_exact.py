"""The exact f32 reference (numpy_forward.py) for the small random-weight models: for each model
and each prompt of its llama.cpp fixture, the top-10 logits (5 decimals) at every position and
the 64-token greedy continuation.
Usage: random_model_exact.py LLAMA_FIXTURE.json MODEL.gguf... OUT.json"""
import json
import sys
from pathlib import Path

import numpy as np

from numpy_forward import forward, load

TOP = 10
CONTINUATION = 64


def main(fixture, models, out):
    with open(fixture) as f:
        golden = json.load(f)
    result = {}
    for path in models:
        meta, w = load(path)
        prompts = []
        for p in golden[Path(path).name]["prompts"]:
            logits = forward(meta, w, np.array(p["ids"]))
            top = []
            for row in logits:
                idx = np.argsort(-row, kind="stable")[:TOP]
                top.append({"ids": [int(i) for i in idx], "logits": [round(float(row[i]), 5) for i in idx]})
            ids, greedy = list(p["ids"]), []
            for _ in range(CONTINUATION):
                nxt = int(np.argmax(logits[-1]))
                greedy.append(nxt)
                ids.append(nxt)
                logits = forward(meta, w, np.array(ids))
            prompts.append({"ids": p["ids"], "top": top, "greedy": greedy})
        result[Path(path).name] = {"prompts": prompts}
    with open(out, "w") as f:
        json.dump(result, f, separators=(",", ":"))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:-1], sys.argv[-1])
