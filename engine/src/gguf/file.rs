use std::borrow::Cow;
use std::collections::HashMap;

use super::cursor::Cursor;
use super::{GgufError, TensorType, Value};

const MAGIC: [u8; 4] = *b"GGUF";
const DEFAULT_ALIGNMENT: u64 = 32;
const MAX_DIMS: u32 = 4;

/// One tensor's description; `offset` is relative to the start of the data section.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// ggml order: `shape[0]` is the contiguous (innermost) dimension.
    pub shape: Vec<u64>,
    pub ty: TensorType,
    pub offset: u64,
}

impl TensorInfo {
    pub fn elements(&self) -> u64 {
        self.shape.iter().product()
    }

    pub fn byte_len(&self) -> u64 {
        self.elements() / self.ty.block_elements() * self.ty.block_bytes()
    }
}

/// Everything before the tensor data: version, metadata and tensor infos.
#[derive(Debug, Clone)]
pub struct GgufHeader {
    pub version: u32,
    pub metadata: Vec<(String, Value)>,
    pub tensors: Vec<TensorInfo>,
    pub alignment: u64,
    /// Absolute file offset of the data section.
    pub data_offset: u64,
    metadata_index: HashMap<String, usize>,
    tensor_index: HashMap<String, usize>,
}

impl GgufHeader {
    /// Parses the header from a whole file's bytes (or a prefix of them, taken as the file).
    pub fn parse(bytes: &[u8]) -> Result<Self, GgufError> {
        Self::parse_prefix(bytes, bytes.len() as u64)
    }

    /// Parses the header from a prefix of a file of `file_len` bytes. A prefix too short gives
    /// `Truncated`, so a streaming caller can retry with more bytes.
    pub fn parse_prefix(prefix: &[u8], file_len: u64) -> Result<Self, GgufError> {
        let mut cursor = Cursor::new(prefix, file_len);
        let magic = cursor.array::<4>()?;
        if magic != MAGIC {
            return Err(GgufError::BadMagic(magic));
        }
        let version = cursor.u32()?;
        if !(2..=3).contains(&version) {
            return Err(GgufError::UnsupportedVersion(version));
        }
        // Smallest tensor info: empty name (8) + n_dims (4) + type (4) + offset (8).
        let tensor_count = cursor.count("tensor", 24)?;
        // Smallest key/value: empty key (8) + type (4) + one byte.
        let kv_count = cursor.count("metadata", 13)?;

        let mut metadata = Vec::with_capacity(kv_count as usize);
        let mut metadata_index = HashMap::new();
        for _ in 0..kv_count {
            let key = cursor.string()?;
            let type_id = cursor.u32()?;
            let value = Value::read(&mut cursor, type_id, 0)?;
            metadata_index.insert(key.clone(), metadata.len());
            metadata.push((key, value));
        }

        let alignment = match metadata_index.get("general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some(&i) => {
                let a = metadata[i].1.as_u64().unwrap_or(0);
                if a == 0 || !a.is_power_of_two() {
                    return Err(GgufError::BadAlignment(a));
                }
                a
            }
        };

        let mut tensors = Vec::with_capacity(tensor_count as usize);
        let mut tensor_index = HashMap::new();
        for _ in 0..tensor_count {
            let info = read_tensor_info(&mut cursor, alignment)?;
            if tensor_index.insert(info.name.clone(), tensors.len()).is_some() {
                return Err(GgufError::DuplicateTensor(info.name));
            }
            tensors.push(info);
        }
        let data_offset = cursor.position().div_ceil(alignment) * alignment;

        Ok(Self { version, metadata, tensors, alignment, data_offset, metadata_index, tensor_index })
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata_index.get(key).map(|&i| &self.metadata[i].1)
    }

    pub fn require(&self, key: &str) -> Result<&Value, GgufError> {
        self.get(key).ok_or_else(|| GgufError::MissingKey(key.to_string()))
    }

    pub fn u64(&self, key: &str) -> Result<u64, GgufError> {
        self.require(key)?
            .as_u64()
            .ok_or_else(|| GgufError::MetadataType { key: key.to_string(), expected: "an unsigned integer" })
    }

    pub fn f64(&self, key: &str) -> Result<f64, GgufError> {
        self.require(key)?
            .as_f64()
            .ok_or_else(|| GgufError::MetadataType { key: key.to_string(), expected: "a number" })
    }

    pub fn str(&self, key: &str) -> Result<&str, GgufError> {
        self.require(key)?
            .as_str()
            .ok_or_else(|| GgufError::MetadataType { key: key.to_string(), expected: "a string" })
    }

    pub fn tensor(&self, name: &str) -> Result<&TensorInfo, GgufError> {
        self.tensor_index
            .get(name)
            .map(|&i| &self.tensors[i])
            .ok_or_else(|| GgufError::MissingTensor(name.to_string()))
    }

    pub fn has_tensor(&self, name: &str) -> bool {
        self.tensor_index.contains_key(name)
    }
}

fn read_tensor_info(cursor: &mut Cursor, alignment: u64) -> Result<TensorInfo, GgufError> {
    let name = cursor.string()?;
    let dims = cursor.u32()?;
    if dims > MAX_DIMS {
        return Err(GgufError::TooManyDims { name, dims });
    }
    let mut shape = Vec::with_capacity(dims as usize);
    for _ in 0..dims {
        shape.push(cursor.u64()?);
    }
    let type_id = cursor.u32()?;
    let offset = cursor.u64()?;

    let elements = shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
    // Zero dimensions would make an empty product of 1 with no innermost dimension to block.
    let elements = match elements {
        Some(n) if !shape.is_empty() && n > 0 && n < (1 << 40) => n,
        _ => return Err(GgufError::BadShape { name, shape }),
    };
    let ty = TensorType::from_id(type_id).ok_or_else(|| GgufError::UnsupportedTensorType { name: name.clone(), type_id })?;
    // Blocks run along the innermost dimension, so it (not just the total) must divide.
    if shape[0] % ty.block_elements() != 0 {
        return Err(GgufError::PartialBlock { name, elements, block: ty.block_elements() });
    }
    if offset % alignment != 0 {
        return Err(GgufError::Misaligned { name, offset, alignment });
    }
    Ok(TensorInfo { name, shape, ty, offset })
}

/// A file's bytes as the chunks they arrived in, so a large model never needs one contiguous
/// allocation (browsers stream downloads in pieces).
#[derive(Debug, Clone, Default)]
pub struct ChunkedBytes {
    chunks: Vec<Vec<u8>>,
    starts: Vec<u64>,
    len: u64,
}

impl ChunkedBytes {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, chunk: Vec<u8>) {
        if chunk.is_empty() {
            return;
        }
        self.starts.push(self.len);
        self.len += chunk.len() as u64;
        self.chunks.push(chunk);
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes `[start, start + len)`: borrowed when inside one chunk, copied when spanning several.
    /// The caller checks the range; out-of-range bytes are a `Truncated` error.
    pub fn range(&self, start: u64, len: u64) -> Result<Cow<'_, [u8]>, GgufError> {
        let end = start.checked_add(len).filter(|&e| e <= self.len).ok_or(GgufError::Truncated {
            offset: start,
            needed: len,
            available: self.len,
        })?;
        if len == 0 {
            return Ok(Cow::Borrowed(&[]));
        }
        let first = self.starts.partition_point(|&s| s <= start) - 1;
        let local = (start - self.starts[first]) as usize;
        if local + len as usize <= self.chunks[first].len() {
            return Ok(Cow::Borrowed(&self.chunks[first][local..local + len as usize]));
        }
        let mut out = Vec::with_capacity(len as usize);
        let mut pos = start;
        let mut i = first;
        while pos < end {
            let local = (pos - self.starts[i]) as usize;
            let take = (self.chunks[i].len() - local).min((end - pos) as usize);
            out.extend_from_slice(&self.chunks[i][local..local + take]);
            pos += take as u64;
            i += 1;
        }
        Ok(Cow::Owned(out))
    }
}

/// A parsed GGUF file and its bytes.
#[derive(Debug, Clone)]
pub struct GgufFile {
    pub header: GgufHeader,
    bytes: ChunkedBytes,
}

impl GgufFile {
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, GgufError> {
        let mut chunks = ChunkedBytes::new();
        chunks.push(bytes);
        Self::from_chunks(chunks)
    }

    /// Parses a whole file held as chunks. The header is parsed from a growing contiguous prefix.
    pub fn from_chunks(bytes: ChunkedBytes) -> Result<Self, GgufError> {
        let mut prefix_len = (1u64 << 20).min(bytes.len());
        let header = loop {
            let prefix = bytes.range(0, prefix_len)?;
            match GgufHeader::parse_prefix(&prefix, bytes.len()) {
                Err(GgufError::Truncated { .. }) if prefix_len < bytes.len() => {
                    prefix_len = (prefix_len * 4).min(bytes.len());
                }
                other => break other?,
            }
        };
        let available = bytes.len().saturating_sub(header.data_offset);
        for t in &header.tensors {
            let end = t.offset.checked_add(t.byte_len()).unwrap_or(u64::MAX);
            if end > available {
                return Err(GgufError::DataOutOfRange { name: t.name.clone(), start: t.offset, end, available });
            }
        }
        Ok(Self { header, bytes })
    }

    /// The raw (still quantized) bytes of one tensor.
    pub fn tensor_bytes(&self, info: &TensorInfo) -> Result<Cow<'_, [u8]>, GgufError> {
        self.bytes.range(self.header.data_offset + info.offset, info.byte_len())
    }
}
