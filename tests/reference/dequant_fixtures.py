"""Golden dequantisation windows from gguf-py's numpy dequantiser (independent of our Rust code).

For every tensor type in each GGUF, up to three tensors; from each, four windows of 512
contiguous elements at spread positions. Usage: dequant_fixtures.py OUT.json FILE.gguf...
"""
import json
import os
import sys

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

WINDOW = 512


def windows_of(tensor):
    values = dequantize(tensor.data, tensor.tensor_type).reshape(-1).astype(np.float32)
    n = values.size
    starts = sorted({0, (n // 3) // 256 * 256, (2 * n // 3) // 256 * 256, max(0, n - WINDOW)})
    return [{"start": int(s), "values": [float(v) for v in values[s:s + WINDOW]]} for s in starts]


def main(out, paths):
    fixtures = []
    for path in paths:
        reader = GGUFReader(path)
        per_type = {}
        for tensor in reader.tensors:
            kind = tensor.tensor_type.name
            if per_type.get(kind, 0) >= 3:
                continue
            per_type[kind] = per_type.get(kind, 0) + 1
            fixtures.append({
                "file": os.path.basename(path),
                "tensor": tensor.name,
                "type": kind,
                "elements": int(tensor.n_elements),
                "windows": windows_of(tensor),
            })
    with open(out, "w") as f:
        json.dump(fixtures, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
