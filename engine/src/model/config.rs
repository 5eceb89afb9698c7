use crate::gguf::{GgufError, GgufHeader};

/// Which architecture family a GGUF holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Llama,
    Qwen2,
}

/// How RoPE pairs up dimensions. llama.cpp's converter permutes llama Q/K weights so that
/// adjacent pairs rotate; qwen2 keeps Hugging Face's halves layout ("NeoX").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeStyle {
    AdjacentPairs,
    Halves,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    pub family: Family,
    pub layers: usize,
    pub d_model: usize,
    pub d_ff: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub rope_dims: usize,
    pub rope_theta: f64,
    pub rope_style: RopeStyle,
    pub rms_eps: f64,
    pub vocab: usize,
    pub context: usize,
    pub qkv_bias: bool,
}

impl ModelConfig {
    /// The GGUF architecture name of the family.
    pub fn family_name(&self) -> &'static str {
        match self.family {
            Family::Llama => "llama",
            Family::Qwen2 => "qwen2",
        }
    }

    pub fn from_gguf(header: &GgufHeader) -> Result<Self, GgufError> {
        let arch = header.str("general.architecture")?;
        let family = match arch {
            "llama" => Family::Llama,
            "qwen2" => Family::Qwen2,
            other => {
                return Err(GgufError::MetadataType {
                    key: format!("general.architecture = {other:?}"),
                    expected: "llama or qwen2",
                });
            }
        };
        let key = |k: &str| format!("{arch}.{k}");
        let d_model = header.u64(&key("embedding_length"))? as usize;
        let heads = header.u64(&key("attention.head_count"))? as usize;
        let kv_heads = header.get(&key("attention.head_count_kv")).and_then(|v| v.as_u64()).unwrap_or(heads as u64) as usize;
        if heads == 0 || kv_heads == 0 || d_model % heads != 0 || heads % kv_heads != 0 {
            return Err(GgufError::MetadataType { key: key("attention.head_count"), expected: "head counts that divide the model width" });
        }
        let head_dim = header.get(&key("attention.key_length")).and_then(|v| v.as_u64()).unwrap_or((d_model / heads) as u64) as usize;
        let vocab = match header.get(&key("vocab_size")).and_then(|v| v.as_u64()) {
            Some(v) => v as usize,
            None => header.require("tokenizer.ggml.tokens")?.as_array().map(|a| a.len()).unwrap_or(0),
        };
        Ok(Self {
            family,
            layers: header.u64(&key("block_count"))? as usize,
            d_model,
            d_ff: header.u64(&key("feed_forward_length"))? as usize,
            heads,
            kv_heads,
            head_dim,
            rope_dims: header.get(&key("rope.dimension_count")).and_then(|v| v.as_u64()).unwrap_or(head_dim as u64) as usize,
            rope_theta: header.get(&key("rope.freq_base")).and_then(|v| v.as_f64()).unwrap_or(10_000.0),
            rope_style: match family {
                Family::Llama => RopeStyle::AdjacentPairs,
                Family::Qwen2 => RopeStyle::Halves,
            },
            rms_eps: header.f64(&key("attention.layer_norm_rms_epsilon"))?,
            vocab,
            context: header.get(&key("context_length")).and_then(|v| v.as_u64()).unwrap_or(2048) as usize,
            // Qwen2 files carry q/k/v biases; read from the tensors, not assumed from the family.
            qkv_bias: super::qwen2::has_qkv_bias(header),
        })
    }
}
