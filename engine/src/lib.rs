//! cotnpot's inference engine: GGUF models on burn (WebGPU in the browser, CPU or Vulkan natively).

pub mod backend;
pub mod bench;
mod error;
pub mod fit;
pub mod generate;
pub mod gguf;
mod language_model;
pub mod lora;
pub mod model;
pub mod quant;
mod readback;
pub mod score;
pub mod step;
pub mod tokenizer;
#[cfg(feature = "train")]
pub mod train;

pub use burn::tensor::Device;
pub use error::EngineError;
pub use language_model::LanguageModel;
