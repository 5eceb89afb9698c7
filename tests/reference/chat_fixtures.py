"""Chat prompts rendered by llama-cpp-python's Jinja2ChatFormatter from each GGUF's own
`tokenizer.chat_template`. Usage: chat_fixtures.py OUT.json MODEL.gguf..."""
import json
import os
import sys

from gguf import GGUFReader
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

CONVERSATIONS = [
    [{"role": "user", "content": "What is 7 times 8?"}],
    [{"role": "system", "content": "Reason step by step. Put the answer in \\boxed{}."},
     {"role": "user", "content": "Natalia sold 48 clips in April and half as many in May. How many in total?"}],
]


def field(reader, key):
    f = reader.fields[key]
    return f.contents()


def main(out, paths):
    result = {}
    for path in paths:
        reader = GGUFReader(path)
        tokens = reader.fields["tokenizer.ggml.tokens"]
        token = lambda key: tokens.contents(int(field(reader, key)))
        formatter = Jinja2ChatFormatter(field(reader, "tokenizer.chat_template"),
                                        eos_token=token("tokenizer.ggml.eos_token_id"),
                                        bos_token=token("tokenizer.ggml.bos_token_id"),
                                        add_generation_prompt=True)
        result[os.path.basename(path)] = [
            {"messages": m, "prompt": formatter(messages=m).prompt} for m in CONVERSATIONS]
    with open(out, "w") as f:
        json.dump(result, f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
