//! The GGUF file format (v2/v3): header, metadata, tensor infos, tensor data. No maths here.

mod cursor;
mod error;
mod file;
mod tensor_type;
mod value;

pub use error::GgufError;
pub use file::{ChunkedBytes, GgufFile, GgufHeader, TensorInfo};
pub use tensor_type::TensorType;
pub use value::Value;
