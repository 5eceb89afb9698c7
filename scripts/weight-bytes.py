"""Bytes of weight matrices one decode step reads: in the GGUF's own block formats (what
llama.cpp reads) and in the engine's CPU layout where the CPU has AVX-512 VNNI (tiles of 16 rows,
engine/src/quant/host_tiles.rs): codes in 4-bit nibbles, 5 bits (nibbles plus a bit plane) or
bytes; per group of 32 columns (16 for Q6_K) a scale, in f16 for the formats whose blocks store
an f16 scale, else f32; an offset in f16 for Q4_1/Q5_1, f32 for the K-quants' minimums, none for
the symmetric formats (Q4_0, Q5_0, Q8_0, Q6_K: derived from the scale). The token embedding is
left out (a step reads one row of it) unless it is also the output head.

Usage: python3 scripts/weight-bytes.py MODEL.gguf
"""
import collections
import struct
import sys

# ggml type id: (name, elements per block, bytes per block)
TYPES = {0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20), 6: ("Q5_0", 32, 22),
         7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210),
         30: ("BF16", 1, 2)}
SCALAR_BYTES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def host_bytes(name, n):
    if name in ("F32", "F16", "BF16"):
        return 4 * n
    bits = {"Q4_0": 4, "Q4_1": 4, "Q4_K": 4, "Q5_0": 5, "Q5_1": 5, "Q5_K": 5}.get(name, 8)
    group = 16 if name == "Q6_K" else 32
    groups = n // group
    scale = 2 if name in ("Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0") else 4
    offset = {"Q4_1": 2, "Q5_1": 2, "Q4_K": 4, "Q5_K": 4}.get(name, 0)
    return n * bits // 8 + groups * (scale + offset)


def main(path):
    f = open(path, "rb")
    read = lambda fmt: struct.unpack("<" + fmt, f.read(struct.calcsize(fmt)))[0]
    string = lambda: f.read(read("Q")).decode("utf-8", "replace")

    def skip(kind):
        if kind == 8:
            string()
        elif kind == 9:
            item, count = read("I"), read("Q")
            for _ in range(count):
                skip(item)
        else:
            f.read(SCALAR_BYTES[kind])

    assert f.read(4) == b"GGUF", "not a GGUF file"
    read("I")
    tensors, pairs = read("Q"), read("Q")
    for _ in range(pairs):
        string()
        skip(read("I"))
    matrices = []
    for _ in range(tensors):
        name = string()
        dims = [read("Q") for _ in range(read("I"))]
        kind = read("I")
        read("Q")
        if len(dims) == 2:
            matrices.append((name, dims[0] * dims[1], TYPES[kind]))
    tied = not any(name == "output.weight" for name, _, _ in matrices)
    by_type = collections.defaultdict(lambda: [0, 0, 0])
    for name, n, (type_name, block_elements, block_bytes) in matrices:
        if name == "token_embd.weight" and not tied:
            continue
        row = by_type[type_name]
        row[0] += n
        row[1] += n * block_bytes // block_elements
        row[2] += host_bytes(type_name, n)
    mib = 2**20
    for type_name, (n, file_b, host_b) in sorted(by_type.items()):
        print(f"{type_name}: {n / 1e6:.1f} M weights, GGUF {file_b / mib:.1f} MiB, engine CPU layout {host_b / mib:.1f} MiB")
    file_total = sum(r[1] for r in by_type.values())
    host_total = sum(r[2] for r in by_type.values())
    print(f"per decode step: GGUF {file_total / mib:.1f} MiB, engine CPU layout {host_total / mib:.1f} MiB ({host_total / file_total:.2f}x)")


if __name__ == "__main__":
    main(sys.argv[1])
