"""llama.cpp's speed on a GGUF, for BENCHMARKS.md beside `cotnpot bench` (same machine, same run).

Measures load time, prefill of a 512-token prompt, and greedy decode of one sequence and of 8
sequences as one batch (sharing a 32-token prefix, like `cotnpot bench`), with 2 threads.
Prints one JSON object. Usage: llama_bench.py MODEL.gguf [DECODE_STEPS]

LLAMA_NO_EXTRA_BUFTS=1 turns off llama.cpp's extra weight buffer types (repacking, AMX): on the
2-core Xeon of 2026-12-05, whose CPU reports AMX, llama.cpp 0.3.36 built with -march=native
crashes (SIGSEGV) in its first decode of a quantized model unless they are off.
"""
import json
import os
import random
import sys
import time

import llama_cpp
import numpy as np
from llama_cpp import Llama


def batch_decode_rate(llm, prefix, steps, batch):
    """Tokens/s summed over `batch` sequences decoded together, through llama.cpp's batch API
    (the high-level `Llama` decodes one sequence): the prefix is decoded once as sequence 0 and
    its cache copied to the others."""
    params = llama_cpp.llama_context_default_params()
    params.n_ctx, params.n_batch, params.n_seq_max = 1024, 512, batch
    params.n_threads = params.n_threads_batch = 2
    params.kv_unified = True
    ctx = llama_cpp.llama_init_from_model(llm.model, params)
    n_vocab = llm.n_vocab()
    lot = llama_cpp.llama_batch_init(max(len(prefix), batch), 0, batch)

    def decode(entries):
        """entries: (token, position, sequence, wants logits)."""
        lot.n_tokens = len(entries)
        for i, (token, pos, seq, logits) in enumerate(entries):
            lot.token[i], lot.pos[i], lot.n_seq_id[i], lot.logits[i] = token, pos, 1, logits
            lot.seq_id[i][0] = seq
        if llama_cpp.llama_decode(ctx, lot) != 0:
            raise RuntimeError("llama_decode failed")

    def argmax_of(i):
        return int(np.argmax(np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, i), shape=(n_vocab,))))

    decode([(t, p, 0, p == len(prefix) - 1) for p, t in enumerate(prefix)])
    memory = llama_cpp.llama_get_memory(ctx)
    for seq in range(1, batch):
        llama_cpp.llama_memory_seq_cp(memory, 0, seq, -1, -1)
    tokens = [argmax_of(len(prefix) - 1)] * batch
    start = time.perf_counter()
    for step in range(steps):
        decode([(tokens[s], len(prefix) + step, s, True) for s in range(batch)])
        tokens = [argmax_of(s) for s in range(batch)]
    rate = batch * steps / (time.perf_counter() - start)
    llama_cpp.llama_batch_free(lot)
    llama_cpp.llama_free(ctx)
    return rate


def without_extra_buffer_types():
    default_params = llama_cpp.llama_model_default_params

    def params():
        p = default_params()
        p.use_extra_bufts = False
        return p

    llama_cpp.llama_model_default_params = params
    llama_cpp.llama.llama_cpp.llama_model_default_params = params


def main(model, steps=32):
    no_extra_buffer_types = os.environ.get("LLAMA_NO_EXTRA_BUFTS") == "1"
    if no_extra_buffer_types:
        without_extra_buffer_types()
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
    decode8 = batch_decode_rate(llm, prompt[:32], steps, batch=8)
    print(json.dumps({"load_s": load_s, "prefill_tok_s": prefill, "decode_tok_s_batch1": decode,
                      "decode_tok_s_batch8": decode8,
                      "backend": "llama.cpp cpu (llama-cpp-python 0.3.36, 2 threads"
                      + (", no extra buffer types)" if no_extra_buffer_types else ")"), "model": model.split("/")[-1]}))


if __name__ == "__main__":
    main(*sys.argv[1:])
