//! The transformer's small operations as one CubeCL kernel each (wgpu natively, WebGPU in the
//! browser). Composed from burn's generic operations, RMSNorm, RoPE, attention and SwiGLU's gate
//! take ~70 kernel launches per layer; a decode step is then bound by launches, not by the
//! GPU (measured on an H200: ~2 150 launches and ~75 ms per SmolLM2 token, whatever the
//! batch). These kernels bring a layer to ~20 launches. Each mirrors the generic form in
//! `layers.rs`, which autodiff (training) keeps using (the CPU backend has `host_ops`).

use burn::backend::{Backend, backend_extension, tensor::FloatTensor};
use burn::tensor::{DType, Shape, Tensor};
// The `#[cube]` macro names the crate `cubecl`.
use burn_cubecl::cubecl;
use burn_cubecl::{CubeBackend, kernel::into_contiguous, ops::numeric::empty_device_dtype, tensor::CubeTensor};
use cubecl::{calculate_cube_count_elemwise, prelude::*};

use crate::quant::device_kernel::fixed_plane_size;

#[backend_extension(Cube: cfg(feature = "wgpu"))]
pub trait LayerOps: Backend {
    /// `x / sqrt(mean(x²) + ε) · gain` over the last dimension of `x: [rows, d]`.
    fn rms_norm(x: FloatTensor<Self>, gain: FloatTensor<Self>, eps: f32) -> FloatTensor<Self>;

    /// RoPE on `x: [b, s, heads, head_dim]` (its first `2·half` dimensions) with the tables
    /// `cos, sin: [s, half]`; `halves` pairs dimension i with i + half, else 2i with 2i + 1.
    fn rope(x: FloatTensor<Self>, cos: FloatTensor<Self>, sin: FloatTensor<Self>, halves: bool) -> FloatTensor<Self>;

    /// softmax(q·kᵀ/√d + mask)·v per query head, head h reading kv head h / group.
    /// `q: [b, s, heads, d]`, `k, v: [b, kv_heads, ≥ t, d]` (positions from t on unused),
    /// `mask: [1 or b, s, t]` → `[b, s, heads·d]`.
    fn attention(q: FloatTensor<Self>, k: FloatTensor<Self>, v: FloatTensor<Self>, mask: FloatTensor<Self>) -> FloatTensor<Self>;

    /// `silu(gate) ⊙ up`, elementwise.
    fn silu_mul(gate: FloatTensor<Self>, up: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// One invocation per row: rows are few in decode, and d is a few hundred.
#[cube(launch_unchecked)]
pub(crate) fn rms_norm_kernel(x: &[f32], gain: &[f32], out: &mut [f32], rows: usize, d: usize, eps: f32) {
    let row = ABSOLUTE_POS;
    if row >= rows {
        terminate!();
    }
    let base = row * d;
    let mut sum = 0.0f32;
    for c in 0..d {
        let value = x[base + c];
        sum += value * value;
    }
    let inv_rms = 1.0f32 / (sum / f32::cast_from(d) + eps).sqrt();
    for c in 0..d {
        out[base + c] = x[base + c] * inv_rms * gain[c];
    }
}

/// One plane per row (real GPUs): the lanes stride over the row, so reads coalesce, and
/// `plane_sum` joins their sums of squares.
#[cube(launch_unchecked)]
fn rms_norm_plane_kernel(x: &[f32], gain: &[f32], out: &mut [f32], rows: usize, d: usize, eps: f32) {
    let row = CUBE_POS * CUBE_DIM_Y as usize + UNIT_POS_Y as usize;
    // The whole plane (one y) leaves together, so `plane_sum` below sees every lane.
    if row >= rows {
        terminate!();
    }
    let (lane, lanes) = (UNIT_POS_X as usize, CUBE_DIM_X as usize);
    let base = row * d;
    let mut sum = 0.0f32;
    for c in range_stepped(lane, d, lanes) {
        let value = x[base + c];
        sum += value * value;
    }
    let inv_rms = 1.0f32 / (plane_sum(sum) / f32::cast_from(d) + eps).sqrt();
    for c in range_stepped(lane, d, lanes) {
        out[base + c] = x[base + c] * inv_rms * gain[c];
    }
}

/// One invocation per (position, head, rotated pair); the dimensions past `2·half` are copied.
// A kernel loop, not host code: `copy_from_slice` does not exist on the device.
#[allow(clippy::manual_memcpy)]
#[cube(launch_unchecked)]
fn rope_kernel(x: &[f32], cos: &[f32], sin: &[f32], out: &mut [f32], pairs: usize, s: usize, heads: usize, d: usize, half: usize, #[comptime] halves: bool) {
    let index = ABSOLUTE_POS;
    if index >= pairs {
        terminate!();
    }
    let i = index % half;
    let row = index / half; // (b·s + position)·heads + head
    let position = (row / heads) % s;
    let base = row * d;
    let mut a = base + 2 * i;
    let mut b = a + 1;
    if halves {
        a = base + i;
        b = a + half;
    }
    let (c, sn) = (cos[position * half + i], sin[position * half + i]);
    let (xa, xb) = (x[a], x[b]);
    out[a] = xa * c - xb * sn;
    out[b] = xb * c + xa * sn;
    if i == 0 {
        for tail in 2 * half..d {
            out[base + tail] = x[base + tail];
        }
    }
}

/// One invocation per (row, query head, query position), streaming over the keys with an
/// online softmax, so the scores never leave registers. Masked (−∞) positions are skipped;
/// the literals are finite because WGSL has no infinite ones.
#[cube(launch_unchecked)]
fn attention_kernel(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    mask: &[f32],
    out: &mut [f32],
    queries: usize,
    s: usize,
    heads: usize,
    kv_heads: usize,
    t: usize,
    capacity: usize,
    mask_rows: usize,
    scale: f32,
    #[comptime] d: usize,
) {
    let index = ABSOLUTE_POS;
    if index >= queries {
        terminate!();
    }
    let i = index % s;
    let head = (index / s) % heads;
    let row = index / (s * heads);
    let kv_head = head / (heads / kv_heads);
    let q_base = ((row * s + i) * heads + head) * d;
    let kv_base = (row * kv_heads + kv_head) * capacity * d;
    let mut mask_row = row;
    if mask_rows == 1 {
        mask_row = 0;
    }
    let mask_base = (mask_row * s + i) * t;

    let mut query = Array::<f32>::new(d);
    let mut acc = Array::<f32>::new(d);
    #[unroll]
    for c in 0..d {
        query[c] = q[q_base + c] * scale;
        acc[c] = 0.0;
    }
    let mut running_max = f32::new(-3.0e38);
    let mut total = f32::new(0.0);
    for j in 0..t {
        let bias = mask[mask_base + j];
        if bias > -1.0e30f32 {
            let key = kv_base + j * d;
            let mut score = bias;
            #[unroll]
            for c in 0..d {
                score += query[c] * k[key + c];
            }
            let new_max = max(running_max, score);
            let rescale = (running_max - new_max).exp();
            let weight = (score - new_max).exp();
            total = total * rescale + weight;
            #[unroll]
            for c in 0..d {
                acc[c] = acc[c] * rescale + weight * v[key + c];
            }
            running_max = new_max;
        }
    }
    #[unroll]
    for c in 0..d {
        out[q_base + c] = acc[c] / total;
    }
}

/// The same attention with one plane per query (real GPUs): lane `l` holds dimensions
/// l, l + lanes, …, so each key and value row is read once, coalesced, and `plane_sum` joins
/// the partial scores. Every lane takes the same branch, as they share the query and its mask.
#[cube(launch_unchecked)]
fn attention_plane_kernel(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    mask: &[f32],
    out: &mut [f32],
    queries: usize,
    s: usize,
    heads: usize,
    kv_heads: usize,
    t: usize,
    capacity: usize,
    mask_rows: usize,
    scale: f32,
    #[comptime] d: usize,
    #[comptime] lanes: usize,
) {
    let index = CUBE_POS * CUBE_DIM_Y as usize + UNIT_POS_Y as usize;
    if index >= queries {
        terminate!();
    }
    let per_lane = comptime!(d / lanes);
    let lane = UNIT_POS_X as usize;
    let i = index % s;
    let head = (index / s) % heads;
    let row = index / (s * heads);
    let kv_head = head / (heads / kv_heads);
    let q_base = ((row * s + i) * heads + head) * d + lane;
    let kv_base = (row * kv_heads + kv_head) * capacity * d + lane;
    let mut mask_row = row;
    if mask_rows == 1 {
        mask_row = 0;
    }
    let mask_base = (mask_row * s + i) * t;

    let mut query = Array::<f32>::new(per_lane);
    let mut acc = Array::<f32>::new(per_lane);
    #[unroll]
    for p in 0..per_lane {
        query[p] = q[q_base + p * lanes] * scale;
        acc[p] = 0.0;
    }
    let mut running_max = f32::new(-3.0e38);
    let mut total = f32::new(0.0);
    for j in 0..t {
        let bias = mask[mask_base + j];
        if bias > -1.0e30f32 {
            let key = kv_base + j * d;
            let mut partial = 0.0f32;
            #[unroll]
            for p in 0..per_lane {
                partial += query[p] * k[key + p * lanes];
            }
            let score = plane_sum(partial) + bias;
            let new_max = max(running_max, score);
            let rescale = (running_max - new_max).exp();
            let weight = (score - new_max).exp();
            total = total * rescale + weight;
            #[unroll]
            for p in 0..per_lane {
                acc[p] = acc[p] * rescale + weight * v[key + p * lanes];
            }
            running_max = new_max;
        }
    }
    #[unroll]
    for p in 0..per_lane {
        out[q_base + p * lanes] = acc[p] / total;
    }
}

#[cube(launch_unchecked)]
fn silu_mul_kernel(gate: &[f32], up: &[f32], out: &mut [f32], len: usize) {
    let index = ABSOLUTE_POS;
    if index >= len {
        terminate!();
    }
    let g = gate[index];
    out[index] = g / (1.0f32 + (-g).exp()) * up[index];
}

fn f32_operand(tensor: CubeTensor, what: &str) -> CubeTensor {
    assert_eq!(tensor.dtype, DType::F32, "{what} must be f32");
    into_contiguous(tensor)
}

fn output(like: &CubeTensor, shape: Shape) -> CubeTensor {
    empty_device_dtype(like.client.clone(), like.device.clone(), shape, DType::F32)
}

/// Grid for `threads` invocations.
fn grid(client: &cubecl::client::Client, threads: usize) -> (CubeCount, CubeDim) {
    let dim = CubeDim::new(client, threads);
    (calculate_cube_count_elemwise(client, threads, dim), dim)
}

/// Grid for one plane of `lanes` per item, four items per cube.
fn plane_grid(client: &cubecl::client::Client, items: usize, lanes: u32) -> (CubeCount, CubeDim) {
    let dim = CubeDim::new_2d(lanes, 4);
    (calculate_cube_count_elemwise(client, items * lanes as usize, dim), dim)
}

impl LayerOps for CubeBackend {
    fn rms_norm(x: CubeTensor, gain: CubeTensor, eps: f32) -> CubeTensor {
        let (x, gain) = (f32_operand(x, "x"), f32_operand(gain, "gain"));
        let shape = x.meta.shape().clone();
        let d = shape[shape.len() - 1];
        let rows = shape.num_elements() / d;
        let out = output(&x, shape);
        if let Some(lanes) = fixed_plane_size(&x.client) {
            let (count, dim) = plane_grid(&x.client, rows, lanes);
            unsafe {
                rms_norm_plane_kernel::launch_unchecked(&x.client, count, dim, x.clone().into_buffer_arg(), gain.into_buffer_arg(), out.clone().into_buffer_arg(), rows, d, eps);
            }
            return out;
        }
        let (count, dim) = grid(&x.client, rows);
        unsafe {
            rms_norm_kernel::launch_unchecked(&x.client, count, dim, x.clone().into_buffer_arg(), gain.into_buffer_arg(), out.clone().into_buffer_arg(), rows, d, eps);
        }
        out
    }

    fn rope(x: CubeTensor, cos: CubeTensor, sin: CubeTensor, halves: bool) -> CubeTensor {
        let (x, cos, sin) = (f32_operand(x, "x"), f32_operand(cos, "cos"), f32_operand(sin, "sin"));
        let shape = x.meta.shape().clone();
        let (s, heads, d) = (shape[1], shape[2], shape[3]);
        let half = cos.meta.shape()[1];
        let pairs = shape.num_elements() / d * half;
        let out = output(&x, shape);
        let (count, dim) = grid(&x.client, pairs);
        unsafe {
            rope_kernel::launch_unchecked(
                &x.client,
                count,
                dim,
                x.clone().into_buffer_arg(),
                cos.into_buffer_arg(),
                sin.into_buffer_arg(),
                out.clone().into_buffer_arg(),
                pairs,
                s,
                heads,
                d,
                half,
                halves,
            );
        }
        out
    }

    fn attention(q: CubeTensor, k: CubeTensor, v: CubeTensor, mask: CubeTensor) -> CubeTensor {
        let (q, k, v, mask) = (f32_operand(q, "q"), f32_operand(k, "k"), f32_operand(v, "v"), f32_operand(mask, "mask"));
        let [b, s, heads, d] = [0, 1, 2, 3].map(|i| q.meta.shape()[i]);
        let [kv_heads, capacity] = [1, 2].map(|i| k.meta.shape()[i]);
        let [mask_rows, _, t] = [0, 1, 2].map(|i| mask.meta.shape()[i]);
        let queries = b * s * heads;
        let out = output(&q, Shape::new([b, s, heads * d]));
        let scale = 1.0 / (d as f32).sqrt();
        if let Some(lanes) = fixed_plane_size(&q.client).filter(|&lanes| d.is_multiple_of(lanes as usize)) {
            let (count, dim) = plane_grid(&q.client, queries, lanes);
            unsafe {
                attention_plane_kernel::launch_unchecked(
                    &q.client,
                    count,
                    dim,
                    q.clone().into_buffer_arg(),
                    k.into_buffer_arg(),
                    v.into_buffer_arg(),
                    mask.into_buffer_arg(),
                    out.clone().into_buffer_arg(),
                    queries,
                    s,
                    heads,
                    kv_heads,
                    t,
                    capacity,
                    mask_rows,
                    scale,
                    d,
                    lanes as usize,
                );
            }
            return out;
        }
        let (count, dim) = grid(&q.client, queries);
        unsafe {
            attention_kernel::launch_unchecked(
                &q.client,
                count,
                dim,
                q.clone().into_buffer_arg(),
                k.into_buffer_arg(),
                v.into_buffer_arg(),
                mask.into_buffer_arg(),
                out.clone().into_buffer_arg(),
                queries,
                s,
                heads,
                kv_heads,
                t,
                capacity,
                mask_rows,
                scale,
                d,
            );
        }
        out
    }

    fn silu_mul(gate: CubeTensor, up: CubeTensor) -> CubeTensor {
        let (gate, up) = (f32_operand(gate, "gate"), f32_operand(up, "up"));
        let shape = gate.meta.shape().clone();
        let len = shape.num_elements();
        let out = output(&gate, shape);
        let (count, dim) = grid(&gate.client, len);
        unsafe {
            silu_mul_kernel::launch_unchecked(&gate.client, count, dim, gate.clone().into_buffer_arg(), up.into_buffer_arg(), out.clone().into_buffer_arg(), len);
        }
        out
    }
}

type Dispatch = burn::backend::Dispatch;

pub fn rms_norm<const D: usize>(x: Tensor<D>, gain: &Tensor<1>, eps: f64) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as LayerOps>::rms_norm(x.into_dispatch(), gain.clone().into_dispatch(), eps as f32))
}

pub fn rope(x: Tensor<4>, cos: &Tensor<2>, sin: &Tensor<2>, halves: bool) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as LayerOps>::rope(x.into_dispatch(), cos.clone().into_dispatch(), sin.clone().into_dispatch(), halves))
}

pub fn attention(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, mask: &Tensor<3>) -> Tensor<3> {
    Tensor::from_dispatch(<Dispatch as LayerOps>::attention(q.into_dispatch(), k.into_dispatch(), v.into_dispatch(), mask.clone().into_dispatch()))
}

pub fn silu_mul<const D: usize>(gate: Tensor<D>, up: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as LayerOps>::silu_mul(gate.into_dispatch(), up.into_dispatch()))
}
