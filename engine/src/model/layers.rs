//! The pieces every family shares: RMSNorm, RoPE, grouped-query attention with a KV cache, the
//! gated feed-forward block (SwiGLU, GeGLU).

use burn::tensor::activation::{silu, softmax};
use burn::tensor::{Device, Tensor, TensorData};

use super::config::{Activation, ModelConfig, RopeStyle};
use crate::lora::Lora;
use crate::quant::Weight;

/// Whether `device_ops` has one kernel for each operation below on `x`'s device.
fn fused<const D: usize>(x: &Tensor<D>) -> bool {
    crate::backend::runs_device_kernels(&x.device())
}

/// Whether `host_ops` runs RMSNorm, RoPE, attention and SwiGLU's gate for `x` (the CPU backend,
/// outside autodiff).
#[cfg(feature = "flex")]
fn on_host<const D: usize>(x: &Tensor<D>) -> bool {
    crate::backend::is_cpu(&x.device()) && !x.is_autodiff()
}

/// `x / sqrt(mean(x²) + ε) · g`
#[derive(Debug, Clone)]
pub struct RmsNorm {
    pub gain: Tensor<1>,
    pub eps: f64,
}

impl RmsNorm {
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        #[cfg(feature = "wgpu")]
        if fused(&x) {
            return super::device_ops::rms_norm(x, &self.gain, self.eps);
        }
        #[cfg(feature = "flex")]
        if on_host(&x) {
            return super::host_ops::rms_norm(x, &self.gain, self.eps);
        }
        let mean_square = x.clone().powf_scalar(2.0).mean_dim(2);
        let inv_rms = (mean_square + self.eps).sqrt().recip();
        x * inv_rms * self.gain.clone().unsqueeze::<3>()
    }
}

/// Rotary position embedding tables for positions `[start, start + len)`.
#[derive(Debug, Clone)]
pub struct Rope {
    cos: Tensor<2>,
    sin: Tensor<2>,
}

impl Rope {
    /// angle = position · ωᵢ for each rotated pair i (`frequencies`, see
    /// `ModelConfig::rope_frequencies`), positions `[start, start + len)`.
    pub fn new(frequencies: &[f64], start: usize, len: usize, device: &Device) -> Self {
        let half = frequencies.len();
        let mut cos = Vec::with_capacity(len * half);
        let mut sin = Vec::with_capacity(len * half);
        for pos in start..start + len {
            for &omega in frequencies {
                let angle = pos as f64 * omega;
                cos.push(angle.cos() as f32);
                sin.push(angle.sin() as f32);
            }
        }
        Self {
            cos: Tensor::from_data(TensorData::new(cos, [len, half]), device),
            sin: Tensor::from_data(TensorData::new(sin, [len, half]), device),
        }
    }

    /// Rotates `x: [b, s, heads, head_dim]` (only the first `rope_dims` dimensions).
    pub fn apply(&self, x: Tensor<4>, style: RopeStyle) -> Tensor<4> {
        #[cfg(feature = "wgpu")]
        if fused(&x) {
            return super::device_ops::rope(x, &self.cos, &self.sin, style == RopeStyle::Halves);
        }
        #[cfg(feature = "flex")]
        if on_host(&x) {
            return super::host_ops::rope(x, &self.cos, &self.sin, style == RopeStyle::Halves);
        }
        rope_generic(x, &self.cos, &self.sin, style)
    }
}

/// RoPE in burn's generic operations (autodiff, and the reference the kernels are tested against).
pub(super) fn rope_generic(x: Tensor<4>, cos: &Tensor<2>, sin: &Tensor<2>, style: RopeStyle) -> Tensor<4> {
    let [b, s, h, d] = x.dims();
    let half = cos.dims()[1];
    let cos = cos.clone().reshape([1, s, 1, half]);
    let sin = sin.clone().reshape([1, s, 1, half]);
    let rotated_dims = 2 * half;
    let (head, tail) = if rotated_dims < d {
        (x.clone().narrow(3, 0, rotated_dims), Some(x.narrow(3, rotated_dims, d - rotated_dims)))
    } else {
        (x, None)
    };
    let rotated = match style {
        RopeStyle::Halves => {
            let a = head.clone().narrow(3, 0, half);
            let b_ = head.narrow(3, half, half);
            Tensor::cat(vec![a.clone() * cos.clone() - b_.clone() * sin.clone(), b_ * cos + a * sin], 3)
        }
        RopeStyle::AdjacentPairs => {
            let pairs = head.reshape([b, s, h, half, 2]);
            let even = pairs.clone().narrow(4, 0, 1).reshape([b, s, h, half]);
            let odd = pairs.narrow(4, 1, 1).reshape([b, s, h, half]);
            let new_even = even.clone() * cos.clone() - odd.clone() * sin.clone();
            let new_odd = even * sin + odd * cos;
            Tensor::stack::<5>(vec![new_even, new_odd], 4).reshape([b, s, h, rotated_dims])
        }
    };
    match tail {
        Some(tail) => Tensor::cat(vec![rotated, tail], 3),
        None => rotated,
    }
}

/// Keys and values of every layer for the positions seen so far: `[b, kv_heads, t, head_dim]`.
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor<4>, Tensor<4>)>>,
    len: usize,
    /// Left-padding of each row when a batch holds prompts of different lengths (empty: none).
    padding: Vec<usize>,
}

impl KvCache {
    pub fn new(layers: usize) -> Self {
        Self { layers: vec![None; layers], len: 0, padding: Vec::new() }
    }

    /// An empty cache for a batch whose row `i` starts with `padding[i]` filler positions that
    /// no real position may attend to. RoPE depends only on distances, so a row shifted right by
    /// its padding computes what it would alone.
    pub fn with_padding(layers: usize, padding: Vec<usize>) -> Self {
        Self { layers: vec![None; layers], len: 0, padding }
    }

    /// Additive mask `[1 or b, s, len + s]` for `s` new positions: causal, blind to padding and,
    /// with a `window`, to positions that many or more behind the query.
    pub fn mask(&self, s: usize, window: Option<usize>, device: &Device) -> Tensor<3> {
        let past = self.len;
        let t = past + s;
        let rows = self.padding.len().max(1);
        let mut values = Vec::with_capacity(rows * s * t);
        for r in 0..rows {
            let pad = self.padding.get(r).copied().unwrap_or(0);
            for i in 0..s {
                let q = past + i;
                // A filler position attends to itself only, so its values stay finite.
                values.extend((0..t).map(|j| {
                    let visible = j <= q && (j >= pad || j == q) && window.is_none_or(|w| q - j < w);
                    if visible { 0.0 } else { f32::NEG_INFINITY }
                }));
            }
        }
        Tensor::from_data(TensorData::new(values, [rows, s, t]), device)
    }

    /// Positions cached.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Repeats a batch-1 cache `n` times, so N sequences continue one shared prefix.
    pub fn expand_batch(&self, n: usize) -> Self {
        let layers = self
            .layers
            .iter()
            .map(|l| l.as_ref().map(|(k, v)| (k.clone().repeat_dim(0, n), v.clone().repeat_dim(0, n))))
            .collect();
        Self { layers, len: self.len, padding: self.padding.iter().copied().cycle().take(n * self.padding.len()).collect() }
    }

    /// Adds `k, v: [b, kv_heads, s, head_dim]` after the cached positions and returns the
    /// layer's keys and values: exactly `len + s` positions long, or, `in_place`, buffers with
    /// room to spare (positions past `len + s` unused) that later steps write into without
    /// copying what is cached.
    fn append(&mut self, layer: usize, k: Tensor<4>, v: Tensor<4>, in_place: bool) -> (Tensor<4>, Tensor<4>) {
        let start = self.len;
        let previous = self.layers[layer].take();
        let (k, v) = match previous {
            _ if in_place => {
                let (pk, pv) = previous.unzip();
                (write_at(pk, k, start), write_at(pv, v, start))
            }
            None => (k, v),
            Some((pk, pv)) => (Tensor::cat(vec![pk, k], 2), Tensor::cat(vec![pv, v], 2)),
        };
        self.layers[layer] = Some((k.clone(), v.clone()));
        (k, v)
    }

    /// Layer `i`'s keys and values (`None` before the first position).
    pub(crate) fn layer(&self, i: usize) -> Option<&(Tensor<4>, Tensor<4>)> {
        self.layers.get(i).and_then(Option::as_ref)
    }

    /// Each row's left-padding (empty: none).
    pub(crate) fn padding(&self) -> &[usize] {
        &self.padding
    }

    pub(crate) fn advance(&mut self, positions: usize) {
        self.len += positions;
    }
}

/// `new: [b, h, s, d]` written at position `start` of `buffer`, which grows (to a power of two
/// of positions) when it is too short.
fn write_at(buffer: Option<Tensor<4>>, new: Tensor<4>, start: usize) -> Tensor<4> {
    let [b, h, s, d] = new.dims();
    let needed = start + s;
    let buffer = match buffer {
        Some(buffer) if buffer.dims()[2] >= needed => buffer,
        old => {
            let fresh = Tensor::zeros([b, h, needed.next_power_of_two().max(64), d], &new.device());
            match old {
                Some(old) if start > 0 => fresh.slice_assign([0..b, 0..h, 0..start, 0..d], old.narrow(2, 0, start)),
                _ => fresh,
            }
        }
    };
    buffer.slice_assign([0..b, 0..h, start..needed, 0..d], new)
}

/// A projection `x·Wᵀ` with its frozen weight, plus an adapter's low-rank term when one is
/// attached.
#[derive(Debug, Clone)]
pub struct Linear {
    pub weight: Weight,
    pub lora: Option<Lora>,
}

impl Linear {
    pub fn new(weight: Weight) -> Self {
        Self { weight, lora: None }
    }

    /// `x: [b, s, in]` → `[b, s, out]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let Some(lora) = &self.lora else { return self.weight.forward(x) };
        let [b, s, d] = x.dims();
        let adapted = lora.forward(x.clone().reshape([b * s, d]));
        let out = adapted.dims()[1];
        self.weight.forward(x) + adapted.reshape([b, s, out])
    }
}

/// Grouped-query self-attention; query head h reads key/value head h / (heads / kv_heads).
#[derive(Debug, Clone)]
pub struct Attention {
    pub q: Linear,
    pub k: Linear,
    pub v: Linear,
    pub o: Linear,
    pub q_bias: Option<Tensor<1>>,
    pub k_bias: Option<Tensor<1>>,
    pub v_bias: Option<Tensor<1>>,
    /// RMSNorm of each head of q and of k before RoPE (Qwen3, Gemma 3).
    pub q_norm: Option<RmsNorm>,
    pub k_norm: Option<RmsNorm>,
}

/// Query positions up to which the fused attention kernel (one invocation per query, serial
/// over the keys) runs; longer prompts go through matrix products, which were faster there
/// (lavapipe, SmolLM2: prefill 25.6 tok/s fused, 33.9 through products).
const FUSED_ATTENTION_MAX_QUERIES: usize = 16;

/// Query positions up to which the CPU runs attention as one pass per query and head (`host_ops`);
/// prefill and scoring keep the matrix products, which suit many queries.
#[cfg(feature = "flex")]
const HOST_ATTENTION_MAX_QUERIES: usize = 16;

fn with_bias(x: Tensor<3>, bias: &Option<Tensor<1>>) -> Tensor<3> {
    match bias {
        Some(b) => x + b.clone().unsqueeze::<3>(),
        None => x,
    }
}

/// `x: [b, s, heads, head_dim]` with each head normalised, where there is a norm.
fn per_head(x: Tensor<4>, norm: &Option<RmsNorm>) -> Tensor<4> {
    let Some(norm) = norm else { return x };
    let [b, s, h, d] = x.dims();
    norm.forward(x.reshape([b, s * h, d])).reshape([b, s, h, d])
}

impl Attention {
    /// `x: [b, s, d]` at positions `[cache.len(), cache.len() + s)`; `mask: [1 or b, s, t]` additive.
    pub fn forward(
        &self,
        x: Tensor<3>,
        config: &ModelConfig,
        rope: &Rope,
        mask: &Tensor<3>,
        cache: &mut KvCache,
        layer: usize,
    ) -> Tensor<3> {
        let [b, s, _] = x.dims();
        let (h, kv, hd) = (config.heads, config.kv_heads, config.head_dim);
        let q = with_bias(self.q.forward(x.clone()), &self.q_bias).reshape([b, s, h, hd]);
        let k = with_bias(self.k.forward(x.clone()), &self.k_bias).reshape([b, s, kv, hd]);
        let v = with_bias(self.v.forward(x), &self.v_bias).reshape([b, s, kv, hd]);
        let q = rope.apply(per_head(q, &self.q_norm), config.rope_style);
        let k = rope.apply(per_head(k, &self.k_norm), config.rope_style);
        // Every attention below scales scores by 1/√head_dim; a model with another scale gets it
        // through q.
        let q = match config.query_rescale() {
            Some(rescale) => q * rescale,
            None => q,
        };

        // In place everywhere but under autodiff, whose graph needs each step's tensors intact
        // (burn's CPU backend, too, writes a uniquely held buffer without copying it).
        let in_place = !q.is_autodiff();
        let (k, v) = cache.append(layer, k.swap_dims(1, 2), v.swap_dims(1, 2), in_place);
        #[cfg(feature = "wgpu")]
        if fused(&q) && s <= FUSED_ATTENTION_MAX_QUERIES {
            return self.o.forward(super::device_ops::attention(q, k, v, mask));
        }
        #[cfg(feature = "flex")]
        if on_host(&q) && s <= HOST_ATTENTION_MAX_QUERIES {
            return self.o.forward(super::host_ops::attention(q, k, v, mask));
        }
        self.o.forward(attend(q, k, v, mask))
    }
}

/// softmax(q·kᵀ/√d + mask)·v in matrix products, query head h reading kv head h / group.
/// `q: [b, s, heads, d]`, `k, v: [b, kv_heads, ≥ t, d]`, `mask: [1 or b, s, t]` → `[b, s, heads·d]`.
pub(super) fn attend(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, mask: &Tensor<3>) -> Tensor<3> {
    let [b, s, h, hd] = q.dims();
    let kv = k.dims()[1];
    let group = h / kv;
    let t = mask.dims()[2];
    let (k, v) = (k.narrow(2, 0, t), v.narrow(2, 0, t));
    // Queries grouped by the kv head they read: [b, kv, group·s, hd].
    let q = q.swap_dims(1, 2).reshape([b, kv, group * s, hd]);
    let scores = q.matmul(k.swap_dims(2, 3)) * (1.0 / (hd as f64).sqrt());
    let rows = mask.dims()[0];
    let mask = mask.clone().reshape([rows, 1, s, t]).repeat_dim(2, group).reshape([rows, 1, group * s, t]);
    let weights = softmax(scores + mask, 3);
    weights.matmul(v).reshape([b, h, s, hd]).swap_dims(1, 2).reshape([b, s, h * hd])
}

/// `down(act(gate(x)) ⊙ up(x))`: SwiGLU with SiLU, GeGLU with GELU.
#[derive(Debug, Clone)]
pub struct GatedFfn {
    pub gate: Linear,
    pub up: Linear,
    pub down: Linear,
    pub activation: Activation,
}

impl GatedFfn {
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let (gate, up) = (self.gate.forward(x.clone()), self.up.forward(x));
        let gated = match self.activation {
            Activation::Silu => silu_mul(gate, up),
            Activation::GeluTanh => gelu_tanh(gate) * up,
        };
        self.down.forward(gated)
    }
}

/// GELU's tanh approximation: `x/2 · (1 + tanh(√(2/π) · (x + 0.044715·x³)))`.
fn gelu_tanh(x: Tensor<3>) -> Tensor<3> {
    const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
    let cube = x.clone() * x.clone() * x.clone();
    let inner = (x.clone() + cube * 0.044715) * SQRT_2_OVER_PI;
    x * (inner.tanh() + 1.0) * 0.5
}

/// `silu(gate) ⊙ up`
fn silu_mul(gate: Tensor<3>, up: Tensor<3>) -> Tensor<3> {
    #[cfg(feature = "wgpu")]
    if fused(&gate) {
        return super::device_ops::silu_mul(gate, up);
    }
    #[cfg(feature = "flex")]
    if on_host(&gate) {
        return super::host_ops::silu_mul(gate, up);
    }
    silu(gate) * up
}

/// Each fused kernel (wgpu) against the generic operations it replaces (CPU), on the same
/// inputs: odd sizes, a left-padded batch, and cache buffers longer than the positions in use.
#[cfg(all(test, feature = "wgpu"))]
mod fused_tests {
    use super::*;

    fn random<const D: usize>(shape: [usize; D], seed: u64, device: &Device) -> Tensor<D> {
        let mut rng = crate::generate::Rng::new(seed, 7);
        let n = shape.iter().product();
        let values: Vec<f32> = (0..n).map(|_| (rng.next_u64() % 20_001) as f32 / 10_000.0 - 1.0).collect();
        Tensor::from_data(TensorData::new(values, shape), device)
    }

    fn assert_close<const D: usize>(got: Tensor<D>, want: Tensor<D>, what: &str) {
        assert_eq!(got.dims(), want.dims(), "{what}");
        let got: Vec<f32> = got.into_data().convert::<f32>().try_into_vec().unwrap();
        let want: Vec<f32> = want.into_data().convert::<f32>().try_into_vec().unwrap();
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!((g - w).abs() <= 1e-4 * (1.0 + w.abs()), "{what} [{i}]: {g} vs {w}");
        }
    }

    #[test]
    fn fused_layer_kernels_equal_the_generic_operations() {
        let gpu = crate::backend::test_wgpu();
        let cpu = crate::backend::cpu();
        let both = |f: &dyn Fn(&Device) -> Tensor<3>, what: &str| assert_close(f(&gpu), f(&cpu), what);

        both(&|d| RmsNorm { gain: random([37], 1, d), eps: 1e-5 }.forward(random([2, 3, 37], 2, d)), "RMSNorm");
        both(&|d| silu_mul(random([2, 3, 37], 3, d), random([2, 3, 37], 4, d)), "silu(gate)·up");
        for style in [RopeStyle::Halves, RopeStyle::AdjacentPairs] {
            // 6 of 10 dimensions rotated, as a partial-rotary model would.
            both(
                &|d| {
                    let rope = Rope { cos: random([3, 3], 5, d), sin: random([3, 3], 6, d) };
                    rope.apply(random([2, 3, 4, 10], 7, d), style).reshape([2, 3, 40])
                },
                &format!("RoPE {style:?}"),
            );
        }
        // 4 query heads over 2 kv heads, 5 cached positions plus 3 (or 1) new ones, row 1 padded
        // by 2, buffers of 11 positions whose last ones hold garbage.
        // The same unpadded (one mask row for the batch), as N samples of one prompt decode.
        for (padding, s) in [(vec![0, 2], 3), (vec![0, 2], 1), (vec![], 3), (vec![], 1)] {
            let mut cache = KvCache::with_padding(1, padding);
            cache.advance(5);
            let mask_cpu = cache.mask(s, None, &cpu);
            let mask_gpu = cache.mask(s, None, &gpu);
            let inputs = |d: &Device| (random([2, s, 4, 64], 8 + s as u64, d), random([2, 2, 11, 64], 9, d), random([2, 2, 11, 64], 10, d));
            let (q, k, v) = inputs(&gpu);
            let fused = super::super::device_ops::attention(q, k, v, &mask_gpu);
            let (q, k, v) = inputs(&cpu);
            let rows = mask_cpu.dims()[0];
            assert_close(fused, attend(q, k, v, &mask_cpu), &format!("attention over {s} new positions, {rows} mask rows"));
        }
    }

    /// The in-place cache (device) holds what concatenation (CPU) does, across its growth from
    /// 64 to 128 to 256 positions, for a batch of 2.
    #[test]
    fn cache_written_in_place_equals_concatenation() {
        let gpu = crate::backend::test_wgpu();
        let cpu = crate::backend::cpu();
        let (mut on_gpu, mut on_cpu) = (KvCache::new(1), KvCache::new(1));
        for (step, s) in [50, 1, 13, 1, 70, 1, 1, 60].into_iter().enumerate() {
            let new = |d: &Device, salt: u64| random([2, 3, s, 8], 100 + 2 * step as u64 + salt, d);
            let (k_gpu, v_gpu) = on_gpu.append(0, new(&gpu, 0), new(&gpu, 1), true);
            let (k_cpu, v_cpu) = on_cpu.append(0, new(&cpu, 0), new(&cpu, 1), false);
            on_gpu.advance(s);
            on_cpu.advance(s);
            let t = on_cpu.len();
            assert!(k_gpu.dims()[2] >= t && k_gpu.dims()[2].is_power_of_two(), "step {step}: buffer of {}", k_gpu.dims()[2]);
            let as3 = |x: Tensor<4>| x.narrow(2, 0, t).reshape([2, 3 * t, 8]);
            assert_close(as3(k_gpu), as3(k_cpu), &format!("keys after step {step}"));
            assert_close(as3(v_gpu), as3(v_cpu), &format!("values after step {step}"));
        }
    }
}
