"""llama.cpp fixtures for the small random-weight models (make_random_models.py): for each model
its size and sha256, and per fixture prompt llama.cpp's ids, top-10 logits (4 decimals) at every position
and the 64-token greedy continuation. Smaller than the real models' fixtures so they can sit in
git beside the model files.
Usage: random_model_fixtures.py MODEL.gguf... OUT.json"""
import hashlib
import json
import sys
from pathlib import Path

from llama_fixtures import open_model, prompt_fixtures


def main(models, out):
    fixtures = {}
    for path in models:
        llm = open_model(path)
        fixtures[Path(path).name] = {
            "bytes": Path(path).stat().st_size,
            "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest(),
            "prompts": prompt_fixtures(llm, top_n=10, digits=4),
        }
        del llm
    with open(out, "w") as f:
        json.dump(fixtures, f, separators=(",", ":"))


if __name__ == "__main__":
    main(sys.argv[1:-1], sys.argv[-1])
