//! The GGUF reader on the real files, and on corrupted copies of them: always a typed error.

use cotnpot_engine::gguf::{ChunkedBytes, GgufError, GgufFile, GgufHeader, TensorType, Value};
use cotnpot_engine::generate::Rng;

use crate::common::{QWEN, SMOLLM, model_bytes, model_file};

#[test]
fn reads_smollm2_metadata_and_tensors() {
    let file = model_file(SMOLLM);
    let h = &file.header;
    assert_eq!(h.version, 3);
    assert_eq!(h.tensors.len(), 272);
    assert_eq!(h.str("general.architecture").unwrap(), "llama");
    assert_eq!(h.u64("llama.block_count").unwrap(), 30);
    assert_eq!(h.u64("llama.embedding_length").unwrap(), 576);
    assert_eq!(h.f64("llama.rope.freq_base").unwrap(), 100000.0);
    assert_eq!(h.get("tokenizer.ggml.tokens").unwrap().as_array().unwrap().len(), 49152);
    assert_eq!(h.get("general.languages"), Some(&Value::Array(vec![Value::String("en".into())])));
    let q = h.tensor("blk.0.attn_q.weight").unwrap();
    assert_eq!((q.shape.as_slice(), q.ty), (&[576u64, 576][..], TensorType::Q4_1));
}

#[test]
fn reads_qwen2_k_quant_mixture() {
    let file = model_file(QWEN);
    let h = &file.header;
    assert_eq!(h.str("general.architecture").unwrap(), "qwen2");
    assert_eq!(h.tensors.len(), 291);
    let types: std::collections::BTreeSet<_> = h.tensors.iter().map(|t| format!("{:?}", t.ty)).collect();
    for ty in ["Q4K", "Q6K", "Q5_0", "Q8_0", "F32"] {
        assert!(types.contains(ty), "{ty} missing from {types:?}");
    }
    assert!(h.has_tensor("blk.0.attn_q.bias"));
}

#[test]
fn chunked_bytes_give_the_same_file() {
    let bytes = model_bytes(SMOLLM);
    let whole = GgufFile::from_bytes(bytes.clone()).unwrap();
    let mut chunks = ChunkedBytes::new();
    // Odd chunk sizes so that headers and tensors straddle chunk edges.
    for piece in bytes.chunks(1_000_003) {
        chunks.push(piece.to_vec());
    }
    let chunked = GgufFile::from_chunks(chunks).unwrap();
    assert_eq!(chunked.header.tensors, whole.header.tensors);
    for info in whole.header.tensors.iter().step_by(7) {
        assert_eq!(chunked.tensor_bytes(info).unwrap(), whole.tensor_bytes(info).unwrap());
    }
}

#[test]
fn every_truncation_is_a_typed_error() {
    let bytes = model_bytes(SMOLLM);
    let data_offset = GgufHeader::parse(&bytes).unwrap().data_offset as usize;
    let mut cuts: Vec<usize> = (0..64).collect();
    cuts.extend((0..data_offset).step_by(data_offset / 150));
    cuts.extend((data_offset..bytes.len()).step_by((bytes.len() - data_offset) / 20));
    cuts.push(bytes.len() - 1);
    for cut in cuts {
        let err = GgufFile::from_bytes(bytes[..cut].to_vec()).unwrap_err();
        let expected = matches!(err, GgufError::Truncated { .. } | GgufError::DataOutOfRange { .. } | GgufError::ImplausibleCount { .. });
        assert!(expected, "cut at {cut}: {err:?}");
    }
}

fn patched(bytes: &[u8], at: usize, new: &[u8]) -> Vec<u8> {
    let mut out = bytes[..bytes.len().min(4 << 20)].to_vec();
    out[at..at + new.len()].copy_from_slice(new);
    out
}

#[test]
fn corrupt_fields_give_their_errors() {
    let bytes = model_bytes(SMOLLM);
    let header = |b: &[u8]| GgufHeader::parse(b).unwrap_err();
    assert_eq!(header(&patched(&bytes, 0, b"GGUX")), GgufError::BadMagic(*b"GGUX"));
    assert_eq!(header(&patched(&bytes, 4, &1u32.to_le_bytes())), GgufError::UnsupportedVersion(1));
    assert!(matches!(header(&patched(&bytes, 8, &u64::MAX.to_le_bytes())), GgufError::ImplausibleCount { .. }));
    assert!(matches!(header(&patched(&bytes, 16, &(1u64 << 60).to_le_bytes())), GgufError::ImplausibleCount { .. }));
    // First key: length u64 at 24, then the key, then its value type.
    let key_len = u64::from_le_bytes(bytes[24..32].try_into().unwrap()) as usize;
    assert_eq!(header(&patched(&bytes, 32 + key_len, &99u32.to_le_bytes())), GgufError::BadValueType(99));
    assert!(matches!(header(&patched(&bytes, 32, &[0xff, 0xfe])), GgufError::BadUtf8 { .. }));
    assert!(matches!(header(&patched(&bytes, 24, &u64::MAX.to_le_bytes())), GgufError::Truncated { .. }));
}

#[test]
fn corrupt_tensor_infos_give_their_errors() {
    let bytes = model_bytes(SMOLLM);
    let h = GgufHeader::parse(&bytes).unwrap();
    // Find the first tensor info: its name is the first occurrence of "token_embd.weight" after
    // the metadata, preceded by its u64 length.
    assert!(h.tensors[0].ty.is_quantized());
    let name = h.tensors[0].name.as_bytes();
    let at = bytes[..h.data_offset as usize].windows(name.len()).rposition(|w| w == name).unwrap();
    let dims_at = at + name.len();
    let dims = u32::from_le_bytes(bytes[dims_at..dims_at + 4].try_into().unwrap()) as usize;
    let type_at = dims_at + 4 + 8 * dims;
    let offset_at = type_at + 4;
    let parse = |b: &[u8]| GgufHeader::parse(b).unwrap_err();
    assert!(matches!(parse(&patched(&bytes, dims_at, &9u32.to_le_bytes())), GgufError::TooManyDims { .. }));
    // Found by the fuzzer: zero dimensions once reached an index panic.
    assert!(matches!(parse(&patched(&bytes, dims_at, &0u32.to_le_bytes())), GgufError::BadShape { .. }));
    assert!(matches!(parse(&patched(&bytes, dims_at + 4, &0u64.to_le_bytes())), GgufError::BadShape { .. }));
    assert!(matches!(parse(&patched(&bytes, type_at, &77u32.to_le_bytes())), GgufError::UnsupportedTensorType { type_id: 77, .. }));
    assert!(matches!(parse(&patched(&bytes, dims_at + 4, &33u64.to_le_bytes())), GgufError::PartialBlock { .. }));
    assert!(matches!(parse(&patched(&bytes, offset_at, &3u64.to_le_bytes())), GgufError::Misaligned { .. }));
    let mut far = bytes.clone();
    far[offset_at..offset_at + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    assert!(matches!(GgufFile::from_bytes(far).unwrap_err(), GgufError::DataOutOfRange { .. }));
}

#[test]
fn random_header_corruption_never_panics() {
    let bytes = model_bytes(QWEN);
    let data_offset = GgufHeader::parse(&bytes).unwrap().data_offset as usize;
    let header = &bytes[..data_offset];
    let mut rng = Rng::new(2026, 0);
    let mut errors = 0;
    for _ in 0..60 {
        let mut copy = header.to_vec();
        for _ in 0..1 + rng.next_u64() % 8 {
            // Bias towards the start, where the counts and lengths live.
            let limit = if rng.next_u64() % 2 == 0 { 4096 } else { copy.len() };
            let at = (rng.next_u64() as usize) % limit;
            copy[at] = rng.next_u64() as u8;
        }
        errors += GgufHeader::parse(&copy).is_err() as usize;
    }
    assert!(errors > 0);
}
