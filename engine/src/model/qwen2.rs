//! Qwen2 (Qwen2.5): the llama graph with biases on q/k/v, RoPE over halves, θ from the file
//! (1e6 for Qwen2.5). What differs is read here; the graph is `llama::Transformer`.

use crate::gguf::GgufHeader;

/// Bias tensor names of one block; present in every Qwen2 GGUF.
fn qkv_bias_names(block: usize) -> [String; 3] {
    ["attn_q", "attn_k", "attn_v"].map(|n| format!("blk.{block}.{n}.bias"))
}

/// Whether this header's file carries the q/k/v biases the family needs.
pub fn has_qkv_bias(header: &GgufHeader) -> bool {
    qkv_bias_names(0).iter().all(|n| header.has_tensor(n))
}
