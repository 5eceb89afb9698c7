//! Gemma 3: the llama graph with GeGLU (tanh GELU), RMSNorms after attention and after the
//! feed-forward block as well as before them, per-head RMSNorm of q and k, embeddings scaled by
//! √d, and five sliding-window layers (their own RoPE base) to every global one. The norms are
//! optional parts of `llama::Block`, loaded where the file has them; what differs in the
//! hyperparameters is read here.

use super::config::SlidingWindow;
use crate::gguf::{GgufError, GgufHeader, Value};

/// Every `PATTERN`th layer attends globally, the others within the window (llama.cpp's default
/// when the file names no pattern).
const PATTERN: usize = 6;

/// The RoPE base of sliding-window layers unless the file gives one.
const WINDOW_ROPE_THETA: f64 = 10_000.0;

/// The scale of attention scores: 1/√head_dim, except the 27B model's 1/√(d/heads) (llama.cpp
/// tells the 27B model by its 62 layers, as Gemma's reference code tells it by name).
pub fn attention_scale(layers: usize, d_model: usize, heads: usize, head_dim: usize) -> f64 {
    let dim = if layers == 62 { d_model / heads } else { head_dim };
    1.0 / (dim as f64).sqrt()
}

/// Which layers slide, how wide their window is and how they rotate; `None` without a window.
pub fn sliding_window(header: &GgufHeader, layers: usize) -> Result<Option<SlidingWindow>, GgufError> {
    let size = match header.get("gemma3.attention.sliding_window").and_then(Value::as_u64) {
        Some(size) if size > 0 => size as usize,
        _ => return Ok(None),
    };
    let pattern_key = "gemma3.attention.sliding_window_pattern";
    let flags = match header.get(pattern_key) {
        None => (0..layers).map(|i| i % PATTERN < PATTERN - 1).collect(),
        Some(v) => match (v.as_u64(), v.as_array()) {
            (Some(n), _) => {
                let n = n as usize;
                (0..layers).map(|i| n == 0 || i % n < n - 1).collect()
            }
            (_, Some(items)) if items.len() == layers => items.iter().map(|b| b.as_bool().unwrap_or(false)).collect(),
            _ => return Err(GgufError::MetadataType { key: pattern_key.to_string(), expected: "a layer period or one flag per layer" }),
        },
    };
    let rope_theta = header.get("gemma3.rope.freq_base_swa").and_then(Value::as_f64).unwrap_or(WINDOW_ROPE_THETA);
    Ok(Some(SlidingWindow { size, layers: flags, rope_theta }))
}
