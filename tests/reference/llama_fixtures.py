"""Golden fixtures from llama.cpp (llama-cpp-python) for one GGUF model.

Writes OUT.json with: the tokenizer corpus's ids; for each prompt its llama.cpp token ids, the
top-20 logits at every position, and the greedy continuation of 64 tokens.
Usage: llama_fixtures.py MODEL.gguf CORPUS.json OUT.json

With --f32, MODEL is the F32 expansion of a quantized model (expand_f32.py) and llama.cpp keeps
its KV cache in f32 too, so nothing rounds activations: OUT.json then holds the prompts only
(logits to 5 decimals), the tight reference of `engine/tests/all/parity.rs`.
Usage: llama_fixtures.py --f32 MODEL_F32.gguf OUT.json
"""
import json
import sys

import numpy as np

TOP = 20
CONTINUATION = 64

QUESTION = ("Natalia sold clips to 48 of her friends in April, and then she sold half as many clips "
            "in May. How many clips did Natalia sell altogether in April and May?")
PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "<|im_start|>system\nYou are a helpful assistant. Reason step by step and put the final answer "
    "in \\boxed{}.<|im_end|>\n<|im_start|>user\n" + QUESTION + "<|im_end|>\n<|im_start|>assistant\n",
    "Question: A train travels 60 miles per hour for 3 hours. How far does it go?\nAnswer:",
    "<|im_start|>user\nWrite a Python function that checks whether a number is prime.<|im_end|>\n"
    "<|im_start|>assistant\n",
    "<|im_start|>user\nJames writes a 3-page letter to 2 different friends twice a week. "
    "How many pages does he write a year?<|im_end|>\n<|im_start|>assistant\n",
    "Once upon a time, in a small village by the sea,",
    "1, 1, 2, 3, 5, 8, 13,",
    "Les mathématiques sont",
    "import numpy as np\n\nx = np.arange(10)\n",
]
# Prompts in a vocabulary's own chat format, added where the model has that format's tokens.
CHAT_PROMPTS = {
    "<start_of_turn>": "<bos><start_of_turn>user\nYou are a helpful assistant. Reason step by step.\n\n"
                       + QUESTION + "<end_of_turn>\n<start_of_turn>model\n",
}


def model_prompts(llm):
    """PROMPTS, then each chat prompt whose marker is one token of this model's vocabulary."""
    extra = [text for marker, text in CHAT_PROMPTS.items()
             if len(llm.tokenize(marker.encode("utf-8"), add_bos=False, special=True)) == 1]
    return PROMPTS + extra


def prompt_fixtures(llm, top_n=TOP, digits=None):
    """For each prompt: llama.cpp's ids, the top-`top_n` logits at every position and the greedy
    continuation of CONTINUATION tokens (logits rounded to `digits` decimals when given)."""
    rounded = (lambda x: float(x)) if digits is None else (lambda x: round(float(x), digits))
    prompts = []
    for text in model_prompts(llm):
        ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        llm.reset()
        llm.eval(ids)
        scores = np.array(llm.scores[: len(ids)], dtype=np.float32)
        top = []
        for row in scores:
            idx = np.argsort(-row, kind="stable")[:top_n]
            top.append({"ids": [int(i) for i in idx], "logits": [rounded(row[i]) for i in idx]})
        greedy = []
        last = scores[-1]
        for _ in range(CONTINUATION):
            nxt = int(np.argmax(last))
            greedy.append(nxt)
            llm.eval([nxt])
            last = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
        prompts.append({"text": text, "ids": [int(i) for i in ids], "top": top, "greedy": greedy})
    return prompts


def open_model(model_path, f32_cache=False):
    from llama_cpp import Llama

    cache = {"type_k": 0, "type_v": 0, "flash_attn": False} if f32_cache else {}  # 0: GGML_TYPE_F32
    return Llama(model_path=model_path, n_ctx=1024, n_batch=512, n_threads=2, logits_all=True,
                 verbose=False, seed=0, **cache)


def main(model_path, corpus_path, out):
    llm = open_model(model_path)
    with open(corpus_path) as f:
        corpus = json.load(f)
    tokens = [llm.tokenize(s.encode("utf-8"), add_bos=False, special=True) for s in corpus]
    prompts = prompt_fixtures(llm)
    with open(out, "w") as f:
        json.dump({"model": model_path.split("/")[-1], "tokenizer": tokens, "prompts": prompts}, f)


def main_f32(model_path, out):
    llm = open_model(model_path, f32_cache=True)
    prompts = prompt_fixtures(llm, digits=5)
    with open(out, "w") as f:
        json.dump({"model": model_path.split("/")[-1], "kv_cache": "f32", "prompts": prompts}, f)


if __name__ == "__main__":
    if sys.argv[1] == "--f32":
        main_f32(*sys.argv[2:4])
    else:
        main(*sys.argv[1:4])
