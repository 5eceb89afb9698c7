"""An exact f32 reference forward pass in numpy over gguf-py-dequantized weights.

llama.cpp's CPU kernels round activations to 8 bits and keep the KV cache in f16, so its logits
carry noise of a few tenths. This script computes the same model in plain f32 maths, written
from the equations, to show how close the engine is to the exact result. It writes the top-20
logits at every prompt position and the greedy continuation for each prompt.
Usage: numpy_forward.py MODEL.gguf LLAMA_FIXTURE.json OUT.json [N_PROMPTS] [GREEDY_TOKENS]
"""
import json
import sys

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize


def load(path):
    reader = GGUFReader(path)
    meta = {k: f.contents() for k, f in reader.fields.items()
            if not k.startswith("tokenizer.ggml.") and not k.startswith("GGUF.")}
    weights = {t.name: dequantize(t.data, t.tensor_type).astype(np.float32).reshape(
        [int(d) for d in reversed(t.shape)]) for t in reader.tensors}
    return meta, weights


def rms_norm(x, g, eps):
    return x / np.sqrt((x.astype(np.float64) ** 2).mean(-1, keepdims=True) + eps).astype(np.float32) * g


def rope(x, pos, theta, halves, factors=None):
    # x: [s, heads, d]; factors: Llama 3.1's per-pair frequency divisors (rope_freqs.weight)
    d = x.shape[-1]
    inv = theta ** (-np.arange(0, d // 2, dtype=np.float64) * 2 / d)
    if factors is not None:
        inv = inv / factors.astype(np.float64)
    ang = np.outer(pos, inv)
    cos, sin = np.cos(ang)[:, None, :].astype(np.float32), np.sin(ang)[:, None, :].astype(np.float32)
    if halves:
        a, b = x[..., : d // 2], x[..., d // 2:]
        return np.concatenate([a * cos - b * sin, b * cos + a * sin], -1)
    a, b = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = a * cos - b * sin
    out[..., 1::2] = a * sin + b * cos
    return out


def gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


def forward(meta, w, ids):
    """llama and qwen2; qwen3 (q/k norms); gemma3 (scaled embeddings, q/k norms, norms after
    attention and MLP, GeGLU, sliding-window layers with their own RoPE base)."""
    arch = meta["general.architecture"]
    m = lambda k: meta[f"{arch}.{k}"]
    heads, kv, eps = int(m("attention.head_count")), int(m("attention.head_count_kv")), float(m("attention.layer_norm_rms_epsilon"))
    theta = float(m("rope.freq_base"))
    halves = arch in ("qwen2", "qwen3", "gemma3")
    gemma = arch == "gemma3"
    window = int(meta.get(f"{arch}.attention.sliding_window", 0)) if gemma else 0
    s = len(ids)
    x = w["token_embd.weight"][ids]
    if gemma:
        x = x * np.float32(np.sqrt(x.shape[-1]))
    pos = np.arange(s)
    mask = np.triu(np.full((s, s), -np.inf, dtype=np.float32), 1)
    window_mask = mask + np.tril(np.full((s, s), -np.inf, dtype=np.float32), -window) if window else mask
    has = lambda name: name in w
    for i in range(int(m("block_count"))):
        p = lambda n: w[f"blk.{i}.{n}"]
        sliding = window and i % 6 < 5
        layer_theta = 10000.0 if sliding else theta
        h = rms_norm(x, p("attn_norm.weight"), eps)
        lin = lambda n: h @ p(f"{n}.weight").T + (p(f"{n}.bias") if f"blk.{i}.{n}.bias" in w else 0)
        q, k, v = lin("attn_q"), lin("attn_k"), lin("attn_v")
        hd = q.shape[-1] // heads
        q, k, v = q.reshape(s, heads, hd), k.reshape(s, kv, hd), v.reshape(s, kv, hd)
        if has(f"blk.{i}.attn_q_norm.weight"):
            q = rms_norm(q, p("attn_q_norm.weight"), eps)
            k = rms_norm(k, p("attn_k_norm.weight"), eps)
        factors = None if sliding else w.get("rope_freqs.weight")
        q = rope(q, pos, layer_theta, halves, factors)
        k = rope(k, pos, layer_theta, halves, factors)
        group = heads // kv
        out = np.empty((s, heads, hd), dtype=np.float32)
        for hh in range(heads):
            scores = q[:, hh] @ k[:, hh // group].T / np.sqrt(hd) + (window_mask if sliding else mask)
            e = np.exp(scores - scores.max(-1, keepdims=True))
            out[:, hh] = (e / e.sum(-1, keepdims=True)) @ v[:, hh // group]
        a = out.reshape(s, heads * hd) @ p("attn_output.weight").T
        x = x + (rms_norm(a, p("post_attention_norm.weight"), eps) if gemma else a)
        h = rms_norm(x, p("ffn_norm.weight"), eps)
        g = h @ p("ffn_gate.weight").T
        act = gelu_tanh(g) if gemma else g / (1 + np.exp(-g))
        f = (act * (h @ p("ffn_up.weight").T)) @ p("ffn_down.weight").T
        x = x + (rms_norm(f, p("post_ffw_norm.weight"), eps) if gemma else f)
    x = rms_norm(x, w["output_norm.weight"], eps)
    head = w.get("output.weight", w["token_embd.weight"])
    return x @ head.T


def reference_prompt(meta, w, ids, top_n=20, continuation=32, digits=None):
    """The top-`top_n` logits at every position of `ids` and its greedy continuation."""
    rounded = (lambda x: float(x)) if digits is None else (lambda x: round(float(x), digits))
    logits = forward(meta, w, np.array(ids))
    top = []
    for row in logits:
        idx = np.argsort(-row, kind="stable")[:top_n]
        top.append({"ids": [int(i) for i in idx], "logits": [rounded(row[i]) for i in idx]})
    ids, greedy = list(ids), []
    for _ in range(int(continuation)):
        nxt = int(np.argmax(logits[-1]))
        greedy.append(nxt)
        ids.append(nxt)
        logits = forward(meta, w, np.array(ids))
    return {"top": top, "greedy": greedy}


def main(model, fixture, out, n=3, continuation=32):
    meta, w = load(model)
    with open(fixture) as f:
        prompts = json.load(f)["prompts"][: int(n)]
    result = [{"ids": p["ids"], **reference_prompt(meta, w, p["ids"], continuation=continuation)} for p in prompts]
    with open(out, "w") as f:
        json.dump({"prompts": result}, f)


if __name__ == "__main__":
    main(*sys.argv[1:])
