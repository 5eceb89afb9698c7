//! The llama decoder: pre-norm blocks of attention and SwiGLU, tied or separate output head.
//! Qwen2 is the same graph with q/k/v biases and halves-style RoPE (see `qwen2.rs`), Qwen3 with
//! per-head q/k norms; Gemma 3 adds norms after attention and the feed-forward block, GeGLU,
//! scaled embeddings and sliding-window layers (see `gemma3.rs`).

use burn::tensor::{Device, Tensor};

use super::config::{Activation, ModelConfig};
use super::layers::{Attention, GatedFfn, KvCache, Linear, RmsNorm, Rope};
use crate::quant::{CpuActivations, Weight};

#[derive(Debug, Clone)]
pub struct Block {
    pub attn_norm: RmsNorm,
    pub attn: Attention,
    /// Normalises the attention's output before the residual add (Gemma).
    pub post_attn_norm: Option<RmsNorm>,
    pub ffn_norm: RmsNorm,
    pub ffn: GatedFfn,
    /// Normalises the feed-forward output before the residual add (Gemma).
    pub post_ffn_norm: Option<RmsNorm>,
}

impl Block {
    /// The seven projections: q, k, v, o, gate, up, down.
    pub fn linears(&self) -> [&Linear; 7] {
        [&self.attn.q, &self.attn.k, &self.attn.v, &self.attn.o, &self.ffn.gate, &self.ffn.up, &self.ffn.down]
    }

    pub fn linears_mut(&mut self) -> [&mut Linear; 7] {
        [&mut self.attn.q, &mut self.attn.k, &mut self.attn.v, &mut self.attn.o, &mut self.ffn.gate, &mut self.ffn.up, &mut self.ffn.down]
    }

    /// Whether the block is llama's or Qwen2's: no norms beyond the two, SwiGLU.
    pub fn is_llama_shaped(&self) -> bool {
        self.post_attn_norm.is_none() && self.post_ffn_norm.is_none() && self.attn.q_norm.is_none() && self.attn.k_norm.is_none() && self.ffn.activation == Activation::Silu
    }
}

fn post_norm(x: Tensor<3>, norm: &Option<RmsNorm>) -> Tensor<3> {
    match norm {
        Some(norm) => norm.forward(x),
        None => x,
    }
}

#[derive(Debug, Clone)]
pub struct Transformer {
    pub config: ModelConfig,
    pub embedding: Weight,
    pub blocks: Vec<Block>,
    pub final_norm: RmsNorm,
    /// The output head; `None` when the file ties it to the embedding.
    pub head: Option<Weight>,
    pub device: Device,
}

impl Transformer {
    pub fn new_cache(&self) -> KvCache {
        KvCache::new(self.config.layers)
    }

    /// A cache for a batch of left-padded rows (see [`KvCache::with_padding`]).
    pub fn new_padded_cache(&self, padding: Vec<usize>) -> KvCache {
        KvCache::with_padding(self.config.layers, padding)
    }

    /// Final hidden states `[b, s, d]` for `tokens` (`b` rows of `s` ids, row-major, each id
    /// inside the vocabulary) following the cached positions.
    pub fn hidden(&self, tokens: &[u32], b: usize, cache: &mut KvCache) -> Tensor<3> {
        if crate::backend::is_cpu(&self.device) {
            return on_cpu_workers(|| self.forward(tokens, b, cache));
        }
        self.forward(tokens, b, cache)
    }

    fn forward(&self, tokens: &[u32], b: usize, cache: &mut KvCache) -> Tensor<3> {
        let s = tokens.len() / b;
        let past = cache.len();
        let d = self.config.d_model;
        let mut x = self.embedding.embed(tokens, &self.device).reshape([b, s, d]);
        if let Some(scale) = self.config.embedding_scale {
            x = x * scale;
        }
        // Sliding-window layers have their own mask and RoPE base; each table is built once,
        // indexed by whether the layer slides.
        let mask = cache.mask(s, None, &self.device);
        let window_mask = self.config.sliding_window.as_ref().map(|w| cache.mask(s, Some(w.size), &self.device));
        let mut ropes: [Option<Rope>; 2] = [None, None];
        for (i, block) in self.blocks.iter().enumerate() {
            let slides = self.config.window(i).is_some();
            let rope = ropes[slides as usize].get_or_insert_with(|| Rope::new(&self.config.rope_frequencies(i), past, s, &self.device));
            let mask = match (slides, &window_mask) {
                (true, Some(window_mask)) => window_mask,
                _ => &mask,
            };
            let h = block.attn.forward(block.attn_norm.forward(x.clone()), &self.config, rope, mask, cache, i);
            x = x + post_norm(h, &block.post_attn_norm);
            let f = block.ffn.forward(block.ffn_norm.forward(x.clone()));
            x = x + post_norm(f, &block.post_ffn_norm);
        }
        cache.advance(s);
        self.final_norm.forward(x)
    }

    /// Whether every part of the model is one the fused decode step computes: llama-shaped
    /// blocks, plain embeddings, one RoPE base, full attention, raw logits.
    pub fn is_llama_shaped(&self) -> bool {
        let c = &self.config;
        self.blocks.iter().all(Block::is_llama_shaped)
            && c.embedding_scale.is_none()
            && c.sliding_window.is_none()
            && c.final_logit_softcap.is_none()
            && c.rope_scale == 1.0
            && c.query_rescale().is_none()
    }

    fn head(&self) -> &Weight {
        self.head.as_ref().unwrap_or(&self.embedding)
    }

    /// Logits `[b, s, vocab]` of the given hidden states.
    pub fn logits(&self, hidden: Tensor<3>) -> Tensor<3> {
        let logits = self.head().forward(hidden);
        match self.config.final_logit_softcap {
            Some(cap) => (logits / cap).tanh() * cap,
            None => logits,
        }
    }

    /// Logits of the last position only: `[b, vocab]`.
    pub fn last_logits(&self, tokens: &[u32], b: usize, cache: &mut KvCache) -> Tensor<2> {
        let hidden = self.hidden(tokens, b, cache);
        let [b, s, _] = hidden.dims();
        self.logits(hidden.narrow(1, s - 1, 1)).reshape([b, self.head().rows()])
    }

    /// Removes every adapter, leaving the base model.
    pub fn detach_adapter(&mut self) {
        for w in self.blocks.iter_mut().flat_map(Block::linears_mut) {
            w.lora = None;
        }
    }

    /// How the CPU backend's few-row (decode) products treat activations; other backends ignore it.
    pub fn set_cpu_activations(&mut self, choice: CpuActivations) {
        let projections = self.blocks.iter_mut().flat_map(Block::linears_mut).map(|l| &mut l.weight);
        for weight in projections.chain([&mut self.embedding]).chain(self.head.as_mut()) {
            if let Weight::Host { activations, .. } = weight {
                *activations = choice;
            }
        }
    }

    /// Device bytes the weights take (an attached adapter included).
    pub fn device_bytes(&self) -> usize {
        let mut total = self.embedding.device_bytes() + self.head.as_ref().map_or(0, Weight::device_bytes);
        for b in &self.blocks {
            for w in b.linears() {
                total += w.weight.device_bytes();
                if let Some(lora) = &w.lora {
                    total += (lora.a.shape().num_elements() + lora.b.shape().num_elements()) * 4;
                }
            }
        }
        total
    }
}

/// Runs `f` on one of the CPU pool's threads. A product split over the pool from outside it
/// wakes the pool and puts the caller to sleep until it is done, about 200 round trips per
/// decode step; from inside, the calling thread takes its share and the others steal the rest.
fn on_cpu_workers<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    #[cfg(not(target_arch = "wasm32"))]
    return rayon::scope(|_| f());
    #[cfg(target_arch = "wasm32")]
    f()
}
