use crate::gguf::{GgufError, GgufHeader};

/// Which architecture family a GGUF holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Llama,
    Qwen2,
    Qwen3,
    Gemma3,
}

/// The gate's activation in the feed-forward block: `down(act(gate(x)) ⊙ up(x))`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// SwiGLU (llama, Qwen).
    Silu,
    /// GeGLU with GELU's tanh approximation (Gemma).
    GeluTanh,
}

/// Sliding-window attention (Gemma 3): the layers it applies to see only the last `size`
/// positions, and rotate with their own RoPE base.
#[derive(Debug, Clone, PartialEq)]
pub struct SlidingWindow {
    pub size: usize,
    /// Per layer: whether it is a sliding-window layer.
    pub layers: Vec<bool>,
    pub rope_theta: f64,
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
    pub activation: Activation,
    /// Multiplies the token embeddings (Gemma: √d_model).
    pub embedding_scale: Option<f32>,
    /// The attention scores' scale; 1/√head_dim for every family but Gemma 3 27B.
    pub attention_scale: f64,
    /// Positions are multiplied by this before RoPE (linear RoPE scaling; 1: none).
    pub rope_scale: f64,
    pub sliding_window: Option<SlidingWindow>,
    /// Llama 3.1/3.2's RoPE frequency factors (`rope_freqs.weight`, one per rotated pair): pair
    /// i rotates at θᵢ / factorᵢ. Read from the tensor when the model loads.
    pub rope_freq_factors: Option<Vec<f32>>,
    /// `cap · tanh(logit / cap)` on the output logits (Gemma 2-style softcapping) when set.
    pub final_logit_softcap: Option<f32>,
}

impl ModelConfig {
    /// The GGUF architecture name of the family.
    pub fn family_name(&self) -> &'static str {
        match self.family {
            Family::Llama => "llama",
            Family::Qwen2 => "qwen2",
            Family::Qwen3 => "qwen3",
            Family::Gemma3 => "gemma3",
        }
    }

    /// The attention window of `layer`, where it has one.
    pub fn window(&self, layer: usize) -> Option<usize> {
        self.sliding_window.as_ref().filter(|w| w.layers.get(layer) == Some(&true)).map(|w| w.size)
    }

    /// What q is multiplied by so that attention's 1/√head_dim gives the model's own scale;
    /// `None` where that scale is 1/√head_dim.
    pub fn query_rescale(&self) -> Option<f64> {
        let rescale = self.attention_scale * (self.head_dim as f64).sqrt();
        ((rescale - 1.0).abs() > 1e-12).then_some(rescale)
    }

    /// The RoPE base `layer` rotates with, and the scale of its positions.
    fn rope_of(&self, layer: usize) -> (f64, f64) {
        match &self.sliding_window {
            Some(w) if w.layers.get(layer) == Some(&true) => (w.rope_theta, 1.0),
            _ => (self.rope_theta, self.rope_scale),
        }
    }

    /// The angle per position of each rotated pair of `layer`: scale · base^(−2i/d) / factorᵢ
    /// for i < d/2, d = `rope_dims`. Sliding-window layers use their own base and no factors.
    pub fn rope_frequencies(&self, layer: usize) -> Vec<f64> {
        let (base, scale) = self.rope_of(layer);
        let factors = self.rope_freq_factors.as_deref().filter(|_| self.window(layer).is_none());
        (0..self.rope_dims / 2)
            .map(|i| {
                let factor = factors.and_then(|f| f.get(i)).map_or(1.0, |&f| f as f64);
                scale * base.powf(-2.0 * i as f64 / self.rope_dims as f64) / factor
            })
            .collect()
    }

    pub fn from_gguf(header: &GgufHeader) -> Result<Self, GgufError> {
        let arch = header.str("general.architecture")?;
        let family = match arch {
            "llama" => Family::Llama,
            "qwen2" => Family::Qwen2,
            "qwen3" => Family::Qwen3,
            "gemma3" => Family::Gemma3,
            other => {
                return Err(GgufError::MetadataType {
                    key: format!("general.architecture = {other:?}"),
                    expected: "llama, qwen2, qwen3 or gemma3",
                });
            }
        };
        let key = |k: &str| format!("{arch}.{k}");
        let d_model = header.u64(&key("embedding_length"))? as usize;
        let heads = header.u64(&key("attention.head_count"))? as usize;
        let kv_heads = header.get(&key("attention.head_count_kv")).and_then(|v| v.as_u64()).unwrap_or(heads as u64) as usize;
        let key_length = header.get(&key("attention.key_length")).and_then(|v| v.as_u64()).map(|v| v as usize);
        if heads == 0 || kv_heads == 0 || heads % kv_heads != 0 || (key_length.is_none() && d_model % heads != 0) {
            return Err(GgufError::MetadataType { key: key("attention.head_count"), expected: "head counts that divide the model width" });
        }
        let head_dim = key_length.unwrap_or(d_model / heads);
        if header.get(&key("attention.value_length")).and_then(|v| v.as_u64()).is_some_and(|v| v as usize != head_dim) {
            return Err(GgufError::MetadataType { key: key("attention.value_length"), expected: "the key length (separate value heads are not supported)" });
        }
        let layers = header.u64(&key("block_count"))? as usize;
        let vocab = match header.get(&key("vocab_size")).and_then(|v| v.as_u64()) {
            Some(v) => v as usize,
            None => header.require("tokenizer.ggml.tokens")?.as_array().map(|a| a.len()).unwrap_or(0),
        };
        let rope_scale = match header.get(&key("rope.scaling.type")).and_then(|v| v.as_str()) {
            None | Some("none") => 1.0,
            Some("linear") => 1.0 / header.f64(&key("rope.scaling.factor"))?,
            Some(other) => return Err(GgufError::MetadataType { key: format!("{} = {other:?}", key("rope.scaling.type")), expected: "none or linear RoPE scaling" }),
        };
        Ok(Self {
            family,
            layers,
            d_model,
            d_ff: header.u64(&key("feed_forward_length"))? as usize,
            heads,
            kv_heads,
            head_dim,
            rope_dims: header.get(&key("rope.dimension_count")).and_then(|v| v.as_u64()).unwrap_or(head_dim as u64) as usize,
            rope_theta: header.get(&key("rope.freq_base")).and_then(|v| v.as_f64()).unwrap_or(10_000.0),
            rope_style: match family {
                Family::Llama => RopeStyle::AdjacentPairs,
                Family::Qwen2 | Family::Qwen3 | Family::Gemma3 => RopeStyle::Halves,
            },
            rms_eps: header.f64(&key("attention.layer_norm_rms_epsilon"))?,
            vocab,
            context: header.get(&key("context_length")).and_then(|v| v.as_u64()).unwrap_or(2048) as usize,
            // Qwen2 files carry q/k/v biases; read from the tensors, not assumed from the family.
            qkv_bias: super::qwen2::has_qkv_bias(header),
            activation: if family == Family::Gemma3 { Activation::GeluTanh } else { Activation::Silu },
            embedding_scale: (family == Family::Gemma3).then(|| (d_model as f32).sqrt()),
            attention_scale: match family {
                Family::Gemma3 => super::gemma3::attention_scale(layers, d_model, heads, head_dim),
                _ => 1.0 / (head_dim as f64).sqrt(),
            },
            rope_scale,
            sliding_window: match family {
                Family::Gemma3 => super::gemma3::sliding_window(header, layers)?,
                _ => None,
            },
            rope_freq_factors: None,
            final_logit_softcap: header.get(&key("final_logit_softcapping")).and_then(|v| v.as_f64()).filter(|&c| c > 0.0).map(|c| c as f32),
        })
    }
}
