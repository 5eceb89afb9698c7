//! Decoder-only transformers from GGUF files: shared layers plus one file per family.

mod config;
#[cfg(feature = "wgpu")]
pub(crate) mod device_ops;
#[cfg(feature = "flex")]
mod host_ops;
pub(crate) mod layers;
mod gemma3;
mod llama;
mod load;
mod qwen2;

pub use config::{Activation, Family, ModelConfig, RopeStyle, SlidingWindow};
pub use layers::{Attention, KvCache, Linear, RmsNorm, GatedFfn};
pub use llama::{Block, Transformer};
pub use load::{LoadError, load_model};
