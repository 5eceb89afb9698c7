//! GGUF block formats → codes with per-group scale and offset; the quantized tensor on the device.

mod blocks;
#[cfg(feature = "wgpu")]
pub(crate) mod device_kernel;
mod host;
#[cfg(target_arch = "x86_64")]
mod host_avx2;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod host_simd128;
#[cfg(target_arch = "x86_64")]
mod host_tiles;
#[cfg(target_arch = "x86_64")]
mod i16_rows;
mod qtensor;

pub use blocks::{Decoded, code_bits, decode_blocks, dequantize, group_size};
pub use host::{CpuActivations, HostQuant};
pub use qtensor::{QuantTensor, Weight};
