"""llama.cpp's speed on a GGUF, for BENCHMARKS.md beside `cotnpot bench` (same machine, same run).

Measures load time, prefill of a 512-token prompt and batch-1 greedy decode, with 2 threads.
Prints one JSON object. Usage: llama_bench.py MODEL.gguf [DECODE_STEPS]
"""
import json
import random
import sys
import time

import numpy as np
from llama_cpp import Llama


def main(model, steps=32):
    steps = int(steps)
    start = time.perf_counter()
    llm = Llama(model_path=model, n_ctx=1024, n_batch=512, n_threads=2, verbose=False)
    load_s = time.perf_counter() - start
    rng = random.Random(0)
    prompt = [256 + rng.randrange(llm.n_vocab() - 256) for _ in range(512)]

    start = time.perf_counter()
    llm.eval(prompt)
    prefill = 512 / (time.perf_counter() - start)

    llm.reset()
    llm.eval(prompt[:32])
    token = int(np.argmax(llm.scores[llm.n_tokens - 1]))
    start = time.perf_counter()
    for _ in range(steps):
        llm.eval([token])
        token = int(np.argmax(llm.scores[llm.n_tokens - 1]))
    decode = steps / (time.perf_counter() - start)
    print(json.dumps({"load_s": load_s, "prefill_tok_s": prefill, "decode_tok_s_batch1": decode,
                      "backend": "llama.cpp cpu (llama-cpp-python 0.3.36, 2 threads)", "model": model.split("/")[-1]}))


if __name__ == "__main__":
    main(*sys.argv[1:])
