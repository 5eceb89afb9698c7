//! What a model will take on a GPU, read from its GGUF header alone, so that a page can say
//! before the download whether a model fits: the weights as the engine stores them on a device
//! (quantized codes packed at their container width plus an f32 scale and offset per group;
//! other tensors as f32), the KV cache of a batch, and the largest activations of a step.

use crate::gguf::{GgufError, GgufHeader};
use crate::model::ModelConfig;
use crate::quant::{QuantTensor, code_bits, group_size};

/// Bytes a generation needs on the device, by what holds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryEstimate {
    pub weights: u64,
    /// Keys and values of every layer for `rows` sequences, at the capacity the cache grows to.
    pub kv_cache: u64,
    /// The largest transient tensors: a prefill's attention scores and feed-forward activations,
    /// and a step's logits.
    pub activations: u64,
    /// The largest single buffer among the cache and the activations (WebGPU caps each buffer
    /// and binding; the weights are split into row blocks that respect the cap).
    pub largest_buffer: u64,
}

impl MemoryEstimate {
    pub fn total(&self) -> u64 {
        self.weights + self.kv_cache + self.activations
    }
}

/// The device bytes of one GGUF tensor as the engine stores it.
fn stored_bytes(ty: crate::gguf::TensorType, shape: &[u64]) -> u64 {
    let elements: u64 = shape.iter().product();
    if !ty.is_quantized() {
        return elements * 4;
    }
    let cols = shape[0];
    let rows = elements / cols.max(1);
    QuantTensor::bytes_for(code_bits(ty), group_size(ty), rows as usize, cols as usize) as u64
}

/// For `rows` sequences sharing a prompt of `prompt` tokens and writing `new_tokens` each.
pub fn estimate(header: &GgufHeader, rows: usize, prompt: usize, new_tokens: usize) -> Result<MemoryEstimate, GgufError> {
    let config = ModelConfig::from_gguf(header)?;
    let weights = header.tensors.iter().map(|t| stored_bytes(t.ty, &t.shape)).sum();
    let (rows, prompt) = (rows as u64, prompt as u64);
    // The cache grows by doubling from 64 positions (`layers::write_at`).
    let capacity = ((prompt + new_tokens as u64).next_power_of_two()).max(64);
    let per_layer = 2 * rows * config.kv_heads as u64 * config.head_dim as u64 * capacity * 4;
    let kv_cache = config.layers as u64 * per_layer;
    let logits = rows * config.vocab as u64 * 4;
    let scores = config.heads as u64 * prompt * prompt * 4;
    let prefill = prompt * (2 * config.d_ff as u64 + 4 * config.d_model as u64 + 2 * (config.heads * config.head_dim) as u64) * 4;
    let activations = logits + scores + prefill;
    let largest_buffer = (per_layer / 2).max(logits).max(scores);
    Ok(MemoryEstimate { weights, kv_cache, activations, largest_buffer })
}
