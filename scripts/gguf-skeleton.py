#!/usr/bin/env python3
"""Carry a GGUF's shape to a machine that cannot receive the whole file, for speed measurements.

  gguf-skeleton.py make SRC.gguf DIR   # DIR/header.bin (metadata, tokenizer, tensor infos),
                                       # DIR/tensors.json and DIR/samples.bin (each tensor's
                                       # first whole blocks, at most 16 KiB)
  gguf-skeleton.py fill DIR OUT.gguf   # the same file layout, each tensor's data tiled from
                                       # its sample

The filled file loads and runs exactly like the original (same types, shapes, tokenizer and
byte count), so decode, prefill and scoring cost the same; its outputs are meaningless. Used by
`scripts/device-bench.sh` where a file must travel under a size limit; never for correctness.
"""
import json
import os
import struct
import sys

# GGML type id → (elements per block, bytes per block)
BLOCKS = {0: (1, 4), 1: (1, 2), 30: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24),
          8: (32, 34), 12: (256, 144), 13: (256, 176), 14: (256, 210)}
SCALAR = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
SAMPLE_BYTES = 16384


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        value = struct.unpack_from("<" + fmt, self.data, self.pos)[0]
        self.pos += struct.calcsize("<" + fmt)
        return value

    def string(self):
        n = self.take("Q")
        self.pos += n
        return self.data[self.pos - n:self.pos].decode("utf-8", "replace")

    def value(self, kind):
        if kind == 8:
            return self.string()
        if kind == 9:
            inner, n = self.take("I"), self.take("Q")
            return [self.value(inner) for _ in range(n)]
        return self.take(SCALAR[kind])


def parse(path):
    with open(path, "rb") as f:
        data = f.read()
    r = Reader(data)
    if data[:4] != b"GGUF":
        sys.exit(f"{path}: not a GGUF file")
    r.pos = 4
    _version, n_tensors, n_kv = r.take("I"), r.take("Q"), r.take("Q")
    alignment = 32
    for _ in range(n_kv):
        key = r.string()
        value = r.value(r.take("I"))
        if key == "general.alignment":
            alignment = value
    tensors = []
    for _ in range(n_tensors):
        name = r.string()
        dims = [r.take("Q") for _ in range(r.take("I"))]
        kind, offset = r.take("I"), r.take("Q")
        elements = 1
        for d in dims:
            elements *= d
        per_block, block_bytes = BLOCKS[kind]
        tensors.append({"name": name, "type": kind, "offset": offset,
                        "bytes": elements // per_block * block_bytes, "block_bytes": block_bytes})
    data_start = (r.pos + alignment - 1) // alignment * alignment
    return data, data_start, tensors


def make(src, out_dir):
    data, data_start, tensors = parse(src)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "header.bin"), "wb") as f:
        f.write(data[:data_start])
    with open(os.path.join(out_dir, "samples.bin"), "wb") as f:
        for t in sorted(tensors, key=lambda t: t["offset"]):
            t["sample"] = min(t["bytes"], SAMPLE_BYTES // t["block_bytes"] * t["block_bytes"])
            start = data_start + t["offset"]
            f.write(data[start:start + t["sample"]])
    with open(os.path.join(out_dir, "tensors.json"), "w") as f:
        json.dump({"data_start": data_start, "file_bytes": len(data), "tensors": tensors}, f)


def fill(in_dir, out):
    with open(os.path.join(in_dir, "tensors.json")) as f:
        layout = json.load(f)
    with open(os.path.join(in_dir, "header.bin"), "rb") as f:
        header = f.read()
    samples = open(os.path.join(in_dir, "samples.bin"), "rb")
    with open(out, "wb") as f:
        f.write(header)
        for t in sorted(layout["tensors"], key=lambda t: t["offset"]):
            f.write(b"\0" * (layout["data_start"] + t["offset"] - f.tell()))
            sample = samples.read(t["sample"])
            whole, rest = divmod(t["bytes"], len(sample))
            f.write(sample * whole + sample[:rest])
        f.write(b"\0" * (layout["file_bytes"] - f.tell()))


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("make", "fill"):
        sys.exit(__doc__)
    (make if sys.argv[1] == "make" else fill)(sys.argv[2], sys.argv[3])
