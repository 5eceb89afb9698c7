"""A small GGUF holding random blocks of the formats the two real models lack (Q4_0, Q5_1, Q5_K,
F16, BF16, plus the others for completeness), written with gguf-py's writer. Its dequantized
values come from gguf-py (dequant_fixtures.py). The bytes are random, seeded: not model weights.
Usage: make_format_samples.py OUT.gguf"""
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFWriter
from gguf.constants import GGML_QUANT_SIZES

# Offsets of f16 scales inside each block, kept finite and modest so values are well defined.
SCALES = {T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
          T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208]}


def main(out):
    rng = np.random.default_rng(20261124)
    writer = GGUFWriter(out, arch="llama")
    rows, cols = 8, 512
    for ty in [T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.Q4_K, T.Q5_K, T.Q6_K]:
        block, size = GGML_QUANT_SIZES[ty]
        data = rng.integers(0, 256, size=(rows, cols // block, size), dtype=np.uint8)
        for off in SCALES[ty]:
            scale = rng.uniform(1e-3, 1e-1, size=data.shape[:2]).astype(np.float16).view(np.uint8).reshape(rows, cols // block, 2)
            data[:, :, off:off + 2] = scale
        writer.add_tensor(f"sample.{ty.name}", data.reshape(rows, -1), raw_dtype=ty)
    writer.add_tensor("sample.F16", rng.standard_normal((rows, cols)).astype(np.float16), raw_dtype=T.F16)
    bf16 = (rng.standard_normal((rows, cols)).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    writer.add_tensor("sample.BF16", bf16.view(np.uint8).reshape(rows, cols * 2), raw_dtype=T.BF16)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    main(sys.argv[1])
