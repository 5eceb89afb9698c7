//! RMSNorm, RoPE, attention and SwiGLU's gate as plain loops over host memory, for burn's CPU
//! backend (flex). In a decode step burn's generic forms cost more than the work: attention's two
//! products per head go through a general matrix-multiply whose packing dominates at a few rows
//! (with the score matrix and mask materialised around them), `exp` is a library call per value,
//! and RMSNorm and RoPE build several temporaries each. Here attention is one pass per query
//! position and head over its keys and values, `exp` is a polynomial that vectorises, and the
//! others are one pass over their rows. Each mirrors the generic form in `layers.rs`, which
//! autodiff (training) keeps.

use burn::backend::{Backend, backend_extension, tensor::FloatTensor};
use burn::tensor::{Tensor, TensorData};
use burn_flex::{Flex, FlexTensor};

#[backend_extension(Flex: cfg(feature = "flex"))]
pub trait HostOps: Backend {
    /// softmax(q·kᵀ/√d + mask)·v per query head, head h reading kv head h / group.
    /// `q: [b, s, heads, d]`, `k, v: [b, kv_heads, ≥ t, d]` (positions from t on unused),
    /// `mask: [1 or b, s, t]` → `[b, s, heads·d]`.
    fn host_attention(q: FloatTensor<Self>, k: FloatTensor<Self>, v: FloatTensor<Self>, mask: FloatTensor<Self>) -> FloatTensor<Self>;

    /// `silu(gate) ⊙ up`, elementwise.
    fn host_silu_mul(gate: FloatTensor<Self>, up: FloatTensor<Self>) -> FloatTensor<Self>;

    /// `x / sqrt(mean(x²) + ε) · gain` over the last dimension of `x`.
    fn host_rms_norm(x: FloatTensor<Self>, gain: FloatTensor<Self>, eps: f32) -> FloatTensor<Self>;

    /// RoPE on `x: [b, s, heads, head_dim]` (its first `2·half` dimensions) with the tables
    /// `cos, sin: [s, half]`; `halves` pairs dimension i with i + half, else 2i with 2i + 1.
    fn host_rope(x: FloatTensor<Self>, cos: FloatTensor<Self>, sin: FloatTensor<Self>, halves: bool) -> FloatTensor<Self>;
}

/// A tensor's values in row-major order, without copying where they already are.
fn values(t: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(values) => std::borrow::Cow::Borrowed(values),
        None => std::borrow::Cow::Owned(t.to_contiguous().as_slice::<f32>().expect("contiguous f32").to_vec()),
    }
}

fn dims<const D: usize>(t: &FlexTensor) -> [usize; D] {
    std::array::from_fn(|i| t.layout().shape()[i])
}

impl HostOps for Flex {
    fn host_attention(q: FlexTensor, k: FlexTensor, v: FlexTensor, mask: FlexTensor) -> FlexTensor {
        let [b, s, heads, d] = dims::<4>(&q);
        let [_, kv_heads, capacity, _] = dims::<4>(&k);
        let [mask_rows, _, t] = dims::<3>(&mask);
        let shape = Shapes { s, heads, kv_heads, d, capacity, t, mask_rows };
        let (q, k, v, mask) = (values(&q), values(&k), values(&v), values(&mask));
        let mut out = vec![0f32; b * s * heads * d];
        // One task per query position and head (`out` holds them in that order), so that even a
        // single sequence's step spreads over the cores.
        for_each_row(&mut out, d, 0, |unit, out| attend_head(&shape, unit / heads, unit % heads, &q, &k, &v, &mask, out));
        FlexTensor::from_data(TensorData::new(out, [b, s, heads * d]))
    }

    fn host_silu_mul(gate: FlexTensor, up: FlexTensor) -> FlexTensor {
        let shape = gate.layout().shape().clone();
        let (gate, up) = (values(&gate), values(&up));
        let mut out = vec![0f32; gate.len()];
        const CHUNK: usize = 4096;
        for_each_row(&mut out, CHUNK, ELEMENTWISE_PARALLEL_FROM, |i, out| {
            let start = i * CHUNK;
            silu_mul_into(&gate[start..start + out.len()], &up[start..start + out.len()], out);
        });
        FlexTensor::from_data(TensorData::new(out, shape))
    }

    fn host_rms_norm(x: FlexTensor, gain: FlexTensor, eps: f32) -> FlexTensor {
        let shape = x.layout().shape().clone();
        let (x, gain) = (values(&x), values(&gain));
        let d = gain.len();
        let mut out = vec![0f32; x.len()];
        for_each_row(&mut out, d, ELEMENTWISE_PARALLEL_FROM, |row, out| {
            let x = &x[row * d..(row + 1) * d];
            let mean_square = lanes_of(x, 0.0, |a, v| a + v * v, |a, b| a + b) / d as f32;
            let inverse = 1.0 / (mean_square + eps).sqrt();
            for ((o, v), g) in out.iter_mut().zip(x).zip(gain.iter()) {
                *o = v * inverse * g;
            }
        });
        FlexTensor::from_data(TensorData::new(out, shape))
    }

    fn host_rope(x: FlexTensor, cos: FlexTensor, sin: FlexTensor, halves: bool) -> FlexTensor {
        let shape = x.layout().shape().clone();
        let [_, s, heads, d] = dims::<4>(&x);
        let half = cos.layout().shape()[1];
        let (x, cos, sin) = (values(&x), values(&cos), values(&sin));
        let mut out = x.to_vec();
        // One head of one position per row; the dimensions past `2·half` stay as copied.
        for_each_row(&mut out, d, ELEMENTWISE_PARALLEL_FROM, |row, out| {
            let position = row / heads % s;
            let (cos, sin) = (&cos[position * half..][..half], &sin[position * half..][..half]);
            let x = &x[row * d..(row + 1) * d];
            for i in 0..half {
                let (a, b) = if halves { (i, i + half) } else { (2 * i, 2 * i + 1) };
                out[a] = x[a] * cos[i] - x[b] * sin[i];
                out[b] = x[b] * cos[i] + x[a] * sin[i];
            }
        });
        FlexTensor::from_data(TensorData::new(out, shape))
    }
}

/// Values from which an elementwise operation is worth splitting over the cores (a decode step's
/// few rows are not: a row takes well under a microsecond).
const ELEMENTWISE_PARALLEL_FROM: usize = 1 << 16;

struct Shapes {
    s: usize,
    heads: usize,
    kv_heads: usize,
    d: usize,
    capacity: usize,
    t: usize,
    mask_rows: usize,
}

/// Runs `f(row_index, row)` over `out`'s rows of `width` (the last may be shorter): on all cores
/// natively where there are at least `parallel_from` values (waking the pool costs microseconds),
/// serially otherwise and in the browser.
fn for_each_row(out: &mut [f32], width: usize, parallel_from: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    #[cfg(target_arch = "wasm32")]
    let _ = parallel_from;
    #[cfg(not(target_arch = "wasm32"))]
    if out.len() > width && out.len() >= parallel_from {
        use rayon::prelude::*;
        // A few tasks per thread, not one per row: rows can be a microsecond's work.
        let per_task = out.len().div_ceil(width).div_ceil(4 * rayon::current_num_threads()).max(1);
        out.par_chunks_mut(width).enumerate().with_min_len(per_task).for_each(|(i, row)| f(i, row));
        return;
    }
    out.chunks_mut(width).enumerate().for_each(|(i, row)| f(i, row));
}

/// Head `h`'s attention for output row `row` (`= batch · s + position`), into `out: [d]`.
fn attend_head(shape: &Shapes, row: usize, h: usize, q: &[f32], k: &[f32], v: &[f32], mask: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if avx512() && shape.d.is_multiple_of(16) {
        // SAFETY: the CPU has the features and `d` is whole vectors (checked just above).
        return unsafe { attend_head_avx512(shape, row, h, q, k, v, mask, out) };
    }
    attend_head_with::<false>(shape, row, h, q, k, v, mask, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn attend_head_avx512(shape: &Shapes, row: usize, h: usize, q: &[f32], k: &[f32], v: &[f32], mask: &[f32], out: &mut [f32]) {
    attend_head_with::<true>(shape, row, h, q, k, v, mask, out)
}

/// `AVX512`: the caller has AVX-512F and `d` is a multiple of 16.
#[inline(always)]
fn attend_head_with<const AVX512: bool>(shape: &Shapes, row: usize, h: usize, q: &[f32], k: &[f32], v: &[f32], mask: &[f32], out: &mut [f32]) {
    let Shapes { s, heads, kv_heads, d, capacity, t, mask_rows } = *shape;
    let (batch, position) = (row / s, row % s);
    let group = heads / kv_heads;
    let scale = 1.0 / (d as f32).sqrt();
    let mask_row = &mask[((if mask_rows == 1 { 0 } else { batch }) * s + position) * t..][..t];
    let mut weights = vec![0f32; t];
    let query = &q[(row * heads + h) * d..][..d];
    let cache = (batch * kv_heads + h / group) * capacity * d;
    let (keys, values) = (&k[cache..cache + t * d], &v[cache..cache + t * d]);
    for ((w, key), m) in weights.iter_mut().zip(keys.chunks_exact(d)).zip(mask_row) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `AVX512` is the caller's promise of the features and of `d`.
        let product = if AVX512 { unsafe { avx512::dot(query, key) } } else { dot(query, key) };
        #[cfg(not(target_arch = "x86_64"))]
        let product = dot(query, key);
        *w = product * scale + m;
    }
    let max = lanes(&weights, f32::NEG_INFINITY, f32::max);
    weights.iter_mut().for_each(|w| *w = exp(*w - max));
    let inverse = 1.0 / lanes(&weights, 0.0, |a, b| a + b);
    #[cfg(target_arch = "x86_64")]
    if AVX512 {
        // SAFETY: as above.
        unsafe { avx512::weighted_sum(&weights, values, d, inverse, out) };
        return;
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = weights.iter().zip(values.chunks_exact(d)).map(|(w, value)| w * value[i]).sum::<f32>() * inverse;
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// `Σ a·b` for lengths that are multiples of 16.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
        debug_assert!(a.len().is_multiple_of(16) && a.len() == b.len());
        // SAFETY: every load reads 16 values inside both slices.
        unsafe {
            let mut acc = _mm512_setzero_ps();
            for c in (0..a.len()).step_by(16) {
                acc = _mm512_fmadd_ps(_mm512_loadu_ps(a.as_ptr().add(c)), _mm512_loadu_ps(b.as_ptr().add(c)), acc);
            }
            _mm512_reduce_add_ps(acc)
        }
    }

    /// `out = inverse · Σ_j weights[j] · values[j, ..]` for `values: [weights.len(), d]`, `d` a
    /// multiple of 16: up to 64 columns at a time, their sums held in registers across all rows.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub unsafe fn weighted_sum(weights: &[f32], values: &[f32], d: usize, inverse: f32, out: &mut [f32]) {
        assert!(d.is_multiple_of(16) && out.len() == d && values.len() >= weights.len() * d);
        let mut first = 0;
        // SAFETY: the shapes are checked above.
        unsafe {
            while first < d {
                match (d - first) / 16 {
                    1 => columns::<1>(weights, values, d, first, inverse, out),
                    2 => columns::<2>(weights, values, d, first, inverse, out),
                    3 => columns::<3>(weights, values, d, first, inverse, out),
                    _ => columns::<4>(weights, values, d, first, inverse, out),
                }
                first += 64;
            }
        }
    }

    /// Columns `first..first + 16·VECTORS` of `weighted_sum`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn columns<const VECTORS: usize>(weights: &[f32], values: &[f32], d: usize, first: usize, inverse: f32, out: &mut [f32]) {
        // SAFETY: `weighted_sum` checked that every row holds these columns.
        unsafe {
            let mut acc = [_mm512_setzero_ps(); VECTORS];
            for (j, &w) in weights.iter().enumerate() {
                let (w, row) = (_mm512_set1_ps(w), values.as_ptr().add(j * d + first));
                for (i, acc) in acc.iter_mut().enumerate() {
                    *acc = _mm512_fmadd_ps(w, _mm512_loadu_ps(row.add(16 * i)), *acc);
                }
            }
            for (i, acc) in acc.into_iter().enumerate() {
                _mm512_storeu_ps(out.as_mut_ptr().add(first + 16 * i), _mm512_mul_ps(acc, _mm512_set1_ps(inverse)));
            }
        }
    }
}

fn silu_mul_into(gate: &[f32], up: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if avx512() {
        // SAFETY: the CPU has the features (checked just above).
        return unsafe { silu_mul_avx512(gate, up, out) };
    }
    silu_mul_generic(gate, up, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn silu_mul_avx512(gate: &[f32], up: &[f32], out: &mut [f32]) {
    silu_mul_generic(gate, up, out)
}

#[inline(always)]
fn silu_mul_generic(gate: &[f32], up: &[f32], out: &mut [f32]) {
    for ((o, &g), &u) in out.iter_mut().zip(gate).zip(up) {
        *o = g / (1.0 + exp(-g)) * u;
    }
}

#[cfg(target_arch = "x86_64")]
fn avx512() -> bool {
    static AVX512: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVX512.get_or_init(|| is_x86_feature_detected!("avx512f"))
}

/// `values` folded by `f` in 16 lanes (which vectorise, where one running fold would be serial),
/// then across the lanes.
#[inline(always)]
fn lanes(values: &[f32], init: f32, f: impl Fn(f32, f32) -> f32) -> f32 {
    lanes_of(values, init, &f, &f)
}

/// `values` folded into 16 lanes by `step(lane, value)`, the lanes then joined by `join`.
#[inline(always)]
fn lanes_of(values: &[f32], init: f32, step: impl Fn(f32, f32) -> f32, join: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [init; 16];
    let chunks = values.chunks_exact(16);
    let tail = chunks.remainder().iter().fold(init, |a, &b| step(a, b));
    for chunk in chunks {
        for i in 0..16 {
            acc[i] = step(acc[i], chunk[i]);
        }
    }
    join(halve(acc, &join), tail)
}

/// `Σ a·b` in 16 partial sums, which the compiler maps onto SIMD lanes.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let (a_chunks, b_chunks) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = a_chunks.remainder().iter().zip(b_chunks.remainder()).map(|(x, y)| x * y).sum();
    for (ca, cb) in a_chunks.zip(b_chunks) {
        for i in 0..16 {
            acc[i] += ca[i] * cb[i];
        }
    }
    halve(acc, |a, b| a + b) + tail
}

/// The 16 lanes folded pairwise (8 + 8, 4 + 4, …): four vector steps, where a left-to-right
/// fold is 15 dependent scalar adds.
#[inline(always)]
fn halve(mut acc: [f32; 16], f: impl Fn(f32, f32) -> f32) -> f32 {
    for width in [8, 4, 2, 1] {
        for i in 0..width {
            acc[i] = f(acc[i], acc[i + width]);
        }
    }
    acc[0]
}

/// `eˣ` to within a few units in the last place, as arithmetic that vectorises (the library's
/// `expf` is a call per value): `eˣ = 2ⁿ·eʳ` with `n = round(x·log₂e)`, `|r| ≤ ln2/2`, and `eʳ`
/// by its Taylor series to degree 7 (truncation below 1e-8 relative). 0 below −87 (−∞ included).
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const SHIFT: f32 = 12_582_912.0; // 1.5·2²³: adding it rounds to an integer, ties to even
    const LN2_HIGH: f32 = 0.693_359_4; // ln 2 split so that n·LN2_HIGH is exact
    const LN2_LOW: f32 = -2.121_944_4e-4;
    let clamped = x.clamp(-87.0, 88.0);
    let shifted = clamped * std::f32::consts::LOG2_E + SHIFT;
    let n = shifted - SHIFT;
    let r = clamped - n * LN2_HIGH - n * LN2_LOW;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    // `n` read from the bits of `shifted` (integer arithmetic that vectorises, where `as i32`
    // saturates and does not), moved into the exponent field: 2ⁿ.
    let n_bits = shifted.to_bits().wrapping_sub(SHIFT.to_bits());
    let two_n = f32::from_bits(n_bits.wrapping_add(127) << 23);
    if x < -87.0 { 0.0 } else { p * two_n }
}

type Dispatch = burn::backend::Dispatch;

pub fn attention(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, mask: &Tensor<3>) -> Tensor<3> {
    Tensor::from_dispatch(<Dispatch as HostOps>::host_attention(q.into_dispatch(), k.into_dispatch(), v.into_dispatch(), mask.clone().into_dispatch()))
}

pub fn rms_norm<const D: usize>(x: Tensor<D>, gain: &Tensor<1>, eps: f64) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as HostOps>::host_rms_norm(x.into_dispatch(), gain.clone().into_dispatch(), eps as f32))
}

pub fn rope(x: Tensor<4>, cos: &Tensor<2>, sin: &Tensor<2>, halves: bool) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as HostOps>::host_rope(x.into_dispatch(), cos.clone().into_dispatch(), sin.clone().into_dispatch(), halves))
}

pub fn silu_mul<const D: usize>(gate: Tensor<D>, up: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as HostOps>::host_silu_mul(gate.into_dispatch(), up.into_dispatch()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::KvCache;
    use burn::tensor::Device;

    fn random<const D: usize>(shape: [usize; D], seed: u64) -> Tensor<D> {
        let mut rng = crate::generate::Rng::new(seed, 7);
        let n = shape.iter().product();
        let values: Vec<f32> = (0..n).map(|_| (rng.next_u64() % 20_001) as f32 / 5_000.0 - 2.0).collect();
        Tensor::from_data(TensorData::new(values, shape), &Device::flex())
    }

    fn assert_close<const D: usize>(got: Tensor<D>, want: Tensor<D>, what: &str) {
        assert_eq!(got.dims(), want.dims(), "{what}");
        let got: Vec<f32> = got.into_data().try_into_vec().unwrap();
        let want: Vec<f32> = want.into_data().try_into_vec().unwrap();
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!((g - w).abs() <= 1e-5 * (1.0 + w.abs()), "{what} [{i}]: {g} vs {w}");
        }
    }

    /// Against burn's generic operations (`layers::attend`): 4 query heads over 2 kv heads, 5
    /// cached positions plus 3 (or 1) new ones, row 1 left-padded by 2 (or no padding: one mask
    /// row for the batch), buffers of 11 positions whose last ones hold garbage; head sizes 64
    /// and 80 (whole vectors: the AVX-512 path where the CPU has it) and 40 (the portable path).
    #[test]
    fn attention_equals_the_generic_operations() {
        for d in [64, 80, 40] {
            for (padding, s) in [(vec![0, 2], 3), (vec![0, 2], 1), (vec![], 3), (vec![], 1)] {
                let mut cache = KvCache::with_padding(1, padding.clone());
                cache.advance(5);
                let mask = cache.mask(s, None, &Device::flex());
                let (q, k, v) = (random([2, s, 4, d], 8 + s as u64), random([2, 2, 11, d], 9), random([2, 2, 11, d], 10));
                let want = crate::model::layers::attend(q.clone(), k.clone(), v.clone(), &mask);
                assert_close(attention(q, k, v, &mask), want, &format!("d {d}, {s} new positions, padding {padding:?}"));
            }
        }
    }

    #[test]
    fn rms_norm_equals_the_generic_operations() {
        // A row length that is no multiple of 16.
        let (x, gain) = (random([2, 3, 37], 3).mul_scalar(30.0), random([37], 4));
        let mean_square = x.clone().powf_scalar(2.0).mean_dim(2);
        let want = x.clone() * (mean_square + 1e-5).sqrt().recip() * gain.clone().unsqueeze::<3>();
        assert_close(rms_norm(x, &gain, 1e-5), want, "RMSNorm");
    }

    /// Both pairings, with 6 of 10 dimensions rotated (as a partial-rotary model would).
    #[test]
    fn rope_equals_the_generic_operations() {
        for style in [crate::model::RopeStyle::Halves, crate::model::RopeStyle::AdjacentPairs] {
            let (x, cos, sin) = (random([2, 3, 4, 10], 7), random([3, 3], 5), random([3, 3], 6));
            let want = crate::model::layers::rope_generic(x.clone(), &cos, &sin, style);
            assert_close(rope(x, &cos, &sin, style == crate::model::RopeStyle::Halves), want, &format!("RoPE {style:?}"));
        }
    }

    #[test]
    fn silu_mul_equals_the_generic_operations() {
        // More values than one task's chunk, and a length that is no multiple of 16.
        let (gate, up) = (random([3, 4099], 1).mul_scalar(10.0), random([3, 4099], 2));
        let want = burn::tensor::activation::silu(gate.clone()) * up.clone();
        assert_close(silu_mul(gate, up), want, "silu(gate)·up");
    }

    #[test]
    fn exp_is_within_a_few_ulps_of_the_library_exp() {
        let mut worst = 0f64;
        for i in -87_000..=88_000 {
            let x = i as f32 / 1000.0;
            let (got, want) = (exp(x) as f64, (x as f64).exp());
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst < 4.0 * f32::EPSILON as f64, "relative error {worst}");
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(-100.0), 0.0);
        assert_eq!(exp(0.0), 1.0);
    }
}
