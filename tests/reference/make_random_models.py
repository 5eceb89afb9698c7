"""Small whole models with seeded random weights in the formats the two real files lack (Q4_0,
Q5_1, Q5_K, F16, BF16), and in the architecture variants no small real file carries (Qwen3's
per-head q/k norms and head width apart from the model width; Llama 3.1's RoPE frequency
factors), written with gguf-py's writer, so the engine's forward pass on them can be checked
against llama.cpp (random_model_fixtures.py) like the real models.

Every 2-D weight (the embedding and the output head included) is in the model's format; norms and
biases are f32. The output head is its own matrix: tied to the embedding, a random model's logits
favour the current token (e·e) and greedy decoding only repeats it; the real files cover tied heads.
Logits = normed hidden state · head row: a head std of 4/√width spreads them by ~4. The tokenizer is a byte-level BPE of 256 byte tokens, 63 merges learnt from the
fixture prompts and one control token, so the files stay small enough to commit. Q4_0, Q5_1,
F16 and BF16 weights are normal random values quantised by gguf-py; gguf-py cannot quantise
k-quants, so the Q5_K model's blocks are random bytes with bounded f16 scales.
Usage: make_random_models.py OUT_DIR
"""
import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFWriter
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import quantize

from llama_fixtures import PROMPTS

# name, format, architecture, width, feed-forward width, layers, heads, kv heads
MODELS = [
    ("random-llama-q4_0", T.Q4_0, "llama", 64, 128, 2, 4, 2),
    ("random-llama-q5_1", T.Q5_1, "llama", 64, 128, 2, 4, 2),
    ("random-llama-f16", T.F16, "llama", 64, 128, 2, 4, 2),
    ("random-llama-bf16", T.BF16, "llama", 64, 128, 2, 4, 2),
    # k-quant rows hold whole blocks of 256 columns.
    ("random-qwen2-q5_k", T.Q5_K, "qwen2", 256, 256, 1, 4, 2),
    # Appended after the others so that their seeds, and so their files, stay as they were.
    ("random-qwen3-q8_0", T.Q8_0, "qwen3", 64, 128, 2, 4, 2),
    ("random-llama3-q8_0", T.Q8_0, "llama", 64, 128, 2, 4, 2),
]
# Qwen3's heads are wider than width / heads (Qwen3-0.6B: 16 heads of 128 in a width of 1024).
QWEN3_HEAD_DIM = 32


def llama3_rope_factors(head_dim, base, factor=8.0, low=1.0, high=4.0, original_context=8192):
    """Llama 3.1's RoPE frequency factors, as Hugging Face's converter writes rope_freqs.weight:
    wavelengths beyond original_context / low slowed by `factor`, those under
    original_context / high kept, the band between blended smoothly."""
    factors = []
    for i in range(0, head_dim, 2):
        wavelength = 2 * np.pi * base ** (i / head_dim)
        if wavelength < original_context / high:
            factors.append(1.0)
        elif wavelength > original_context / low:
            factors.append(factor)
        else:
            smooth = (original_context / wavelength - low) / (high - low)
            factors.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(factors, dtype=np.float32)
MERGES = 63
CONTROL = "<|endoftext|>"


def byte_symbols():
    """GPT-2's byte → printable-character map (the byte-level BPE alphabet)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = {}, 0
    for b in range(256):
        if b in keep:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def learn_merges(text, symbols, count):
    words = Counter("".join(symbols[b] for b in w.encode("utf-8")) for w in re.findall(r" ?\S+|\s+", text))
    words = {tuple(w): n for w, n in words.items()}
    merges = []
    for _ in range(count):
        pairs = Counter()
        for w, n in words.items():
            for pair in zip(w, w[1:]):
                pairs[pair] += n
        (a, b), _ = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        merges.append(f"{a} {b}")
        merged = {}
        for w, n in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == (a, b):
                    out.append(a + b)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            merged[tuple(out)] = n
        words = merged
    return merges


def weight(rng, ty, rows, cols, std):
    if ty == T.Q5_K:
        block, size = GGML_QUANT_SIZES[ty]
        data = rng.integers(0, 256, size=(rows, cols // block, size), dtype=np.uint8)
        # value = d·sc·q − dmin·m with sc, m < 64 and q < 32: dmin = 15.5·d centres it on average.
        d = rng.uniform(0.5, 1.5, size=data.shape[:2]) * std / 450
        data[:, :, 0:2] = d.astype(np.float16).view(np.uint8).reshape(rows, -1, 2)
        data[:, :, 2:4] = (15.5 * d).astype(np.float16).view(np.uint8).reshape(rows, -1, 2)
        return data.reshape(rows, -1), ty
    values = (rng.standard_normal((rows, cols)) * std).astype(np.float32)
    if ty == T.F16:
        return values.astype(np.float16), ty
    return quantize(values, ty), ty


def write_model(path, ty, arch, width, ffn, layers, heads, kv_heads, tokens, merges, seed):
    rng = np.random.default_rng(seed)
    head_dim = QWEN3_HEAD_DIM if arch == "qwen3" else width // heads
    llama3 = path.stem.startswith("random-llama3")
    rope_base = 5e5 if llama3 else 1e6 if arch in ("qwen2", "qwen3") else 1e4
    vocab = len(tokens)
    w = GGUFWriter(str(path), arch=arch)
    w.add_name(path.stem)
    w.add_context_length(512)
    w.add_embedding_length(width)
    w.add_feed_forward_length(ffn)
    w.add_block_count(layers)
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_rope_dimension_count(head_dim)
    w.add_rope_freq_base(rope_base)
    if arch == "qwen3":
        w.add_key_length(head_dim)
        w.add_value_length(head_dim)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2" if arch in ("qwen2", "qwen3") else "gpt-2")
    w.add_token_list(tokens)
    w.add_token_types([1] * (vocab - 1) + [3])
    w.add_token_merges(merges)
    w.add_bos_token_id(vocab - 1)
    w.add_eos_token_id(vocab - 1)
    w.add_add_bos_token(False)

    def matrix(name, rows, cols, std):
        data, raw = weight(rng, ty, rows, cols, std)
        w.add_tensor(name, data, raw_dtype=raw)

    def vector(name, n, mean, std):
        w.add_tensor(name, (mean + rng.standard_normal(n) * std).astype(np.float32))

    matrix("token_embd.weight", vocab, width, 1 / np.sqrt(width))
    if llama3:
        w.add_tensor("rope_freqs.weight", llama3_rope_factors(head_dim, rope_base))
    for i in range(layers):
        vector(f"blk.{i}.attn_norm.weight", width, 1.0, 0.1)
        matrix(f"blk.{i}.attn_q.weight", heads * head_dim, width, 1 / np.sqrt(width))
        matrix(f"blk.{i}.attn_k.weight", kv_heads * head_dim, width, 1 / np.sqrt(width))
        matrix(f"blk.{i}.attn_v.weight", kv_heads * head_dim, width, 1 / np.sqrt(width))
        if arch == "qwen2":
            vector(f"blk.{i}.attn_q.bias", heads * head_dim, 0.0, 0.5)
            vector(f"blk.{i}.attn_k.bias", kv_heads * head_dim, 0.0, 0.5)
            vector(f"blk.{i}.attn_v.bias", kv_heads * head_dim, 0.0, 0.5)
        if arch == "qwen3":
            vector(f"blk.{i}.attn_q_norm.weight", head_dim, 1.0, 0.1)
            vector(f"blk.{i}.attn_k_norm.weight", head_dim, 1.0, 0.1)
        matrix(f"blk.{i}.attn_output.weight", width, heads * head_dim, 1 / np.sqrt(width))
        vector(f"blk.{i}.ffn_norm.weight", width, 1.0, 0.1)
        matrix(f"blk.{i}.ffn_gate.weight", ffn, width, 1 / np.sqrt(width))
        matrix(f"blk.{i}.ffn_up.weight", ffn, width, 1 / np.sqrt(width))
        matrix(f"blk.{i}.ffn_down.weight", width, ffn, 1 / np.sqrt(ffn))
    vector("output_norm.weight", width, 1.0, 0.1)
    matrix("output.weight", vocab, width, 4 / np.sqrt(width))

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main(out_dir):
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    symbols = byte_symbols()
    # Chat markup left out of the merges: llama.cpp turns a vocabulary token spelt "<|im_end|>"
    # into a control token whatever its type says, which is a quirk of its loader, not of BPE.
    text = re.sub(r"<\|im_(start|end)\|>", " ", "\n".join(PROMPTS))
    merges = learn_merges(text, symbols, MERGES)
    tokens = symbols + [m.replace(" ", "") for m in merges] + [CONTROL]
    assert len(set(tokens)) == len(tokens), "a merge produced a token twice"
    for seed, (name, ty, arch, width, ffn, layers, heads, kv_heads) in enumerate(MODELS):
        path = out / f"{name}.gguf"
        write_model(path, ty, arch, width, ffn, layers, heads, kv_heads, tokens, merges, 20261127 + seed)
        print(f"{path}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    main(sys.argv[1])
