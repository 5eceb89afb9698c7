"""Writes a copy of a GGUF model with every tensor expanded to F32 by gguf-py's dequantiser.

llama.cpp's CPU kernels round activations to 8 bits before every product with a quantized
weight (and to 16 bits before one with an F16 weight); with F32 weights they multiply in f32.
Run on this copy, llama.cpp computes the quantized model's own weights without that rounding,
which makes it a reference the engine can be held to tightly (`llama_fixtures.py --f32`).
Usage: expand_f32.py MODEL.gguf OUT.gguf
"""
import sys

import numpy as np
from gguf import GGUFReader, GGUFValueType, GGUFWriter
from gguf.quants import dequantize


def copy_metadata(reader, writer):
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue  # the header's own fields, and the one the writer writes itself
        main = GGUFValueType(field.types[0])
        sub = GGUFValueType(field.types[-1]) if main == GGUFValueType.ARRAY else None
        writer.add_key_value(key, field.contents(), main, sub_type=sub)


def main(model_path, out_path):
    reader = GGUFReader(model_path)
    arch = reader.fields["general.architecture"].contents()
    writer = GGUFWriter(out_path, arch)
    copy_metadata(reader, writer)
    for t in reader.tensors:
        shape = [int(d) for d in reversed(t.shape)]
        weights = dequantize(t.data, t.tensor_type).astype(np.float32).reshape(shape)
        writer.add_tensor(t.name, weights)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    main(*sys.argv[1:3])
