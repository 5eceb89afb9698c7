use thiserror::Error;

/// Every way a GGUF file can be malformed, truncated or unsupported.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum GgufError {
    #[error("not a GGUF file (magic {0:02x?})")]
    BadMagic([u8; 4]),
    #[error("unsupported GGUF version {0} (supported: 2, 3)")]
    UnsupportedVersion(u32),
    #[error("file truncated: needed {needed} bytes at offset {offset}, file has {available}")]
    Truncated { offset: u64, needed: u64, available: u64 },
    #[error("metadata value type {0} is not defined by GGUF")]
    BadValueType(u32),
    #[error("string at offset {offset} is not valid UTF-8")]
    BadUtf8 { offset: u64 },
    #[error("{what} count {count} is larger than the file could hold")]
    ImplausibleCount { what: &'static str, count: u64 },
    #[error("arrays nested deeper than {0} levels")]
    NestingTooDeep(usize),
    #[error("tensor {name}: {dims} dimensions (at most 4)")]
    TooManyDims { name: String, dims: u32 },
    #[error("tensor {name}: shape {shape:?} has no dimensions, or a zero or overflowing element count")]
    BadShape { name: String, shape: Vec<u64> },
    #[error("tensor {name}: ggml type {type_id} is not supported")]
    UnsupportedTensorType { name: String, type_id: u32 },
    #[error("tensor {name}: {elements} elements is not a multiple of the block size {block}")]
    PartialBlock { name: String, elements: u64, block: u64 },
    #[error("tensor {name}: data offset {offset} is not aligned to {alignment}")]
    Misaligned { name: String, offset: u64, alignment: u64 },
    #[error("tensor {name}: data [{start}, {end}) lies outside the file's {available} data bytes")]
    DataOutOfRange { name: String, start: u64, end: u64, available: u64 },
    #[error("duplicate tensor name {0}")]
    DuplicateTensor(String),
    #[error("general.alignment {0} is not a non-zero power of two")]
    BadAlignment(u64),
    #[error("metadata key {key}: expected {expected}")]
    MetadataType { key: String, expected: &'static str },
    #[error("metadata key {0} is missing")]
    MissingKey(String),
    #[error("tensor {0} is missing")]
    MissingTensor(String),
}
