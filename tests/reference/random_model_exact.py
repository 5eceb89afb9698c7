"""The exact f32 reference (numpy_forward.py) for the small random-weight models: for each model
and each prompt of its llama.cpp fixture, the top-10 logits (5 decimals) at every position and
the 64-token greedy continuation.
Usage: random_model_exact.py LLAMA_FIXTURE.json MODEL.gguf... OUT.json"""
import json
import sys
from pathlib import Path

from numpy_forward import load, reference_prompt

TOP = 10
CONTINUATION = 64


def main(fixture, models, out):
    with open(fixture) as f:
        golden = json.load(f)
    result = {}
    for path in models:
        meta, w = load(path)
        prompts = [{"ids": p["ids"], **reference_prompt(meta, w, p["ids"], TOP, CONTINUATION, digits=5)}
                   for p in golden[Path(path).name]["prompts"]]
        result[Path(path).name] = {"prompts": prompts}
    with open(out, "w") as f:
        json.dump(result, f, separators=(",", ":"))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:-1], sys.argv[-1])
