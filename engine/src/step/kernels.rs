//! The decode step's fused kernels: eight launches a layer (q, k, v, attention, o, gate, up,
//! down), each reading its per-token inputs (position, RoPE angles, token ids) from device
//! buffers, so the same launches serve every position of a generation.
//!
//! Every kernel binds at most eight storage buffers, WebGPU's default per-stage limit; that
//! is why q, k and v (whose weights may differ in format) and gate and up are separate launches.
//!
//! Work items are one output row (or one rotated pair of rows) for all `n` rows of the batch, so
//! each weight is decoded once a step. `lanes` consecutive invocations share an item, striding
//! over its words, and `plane_sum` joins their partial sums on GPUs; CPU adapters (lavapipe,
//! SwiftShader), which have no plane operations, run one invocation per item (`lanes = 1`).
//!
//! The step input buffer holds `[position, cos θ₀ … cos θₕ₋₁, sin θ₀ … sin θₕ₋₁]` as f32
//! (positions are exact up to 2²⁴), θ for the current position.

// The `#[cube]` macro names the crate `cubecl`.
use burn_cubecl::cubecl;
use cubecl::prelude::*;

/// The position of this step, from the step input buffer.
#[cube]
fn position(step_in: &[f32]) -> usize {
    usize::cast_from(u32::cast_from(step_in[0]))
}

/// `v` summed over the lanes of a plane (itself when a plane is one lane).
#[cube]
fn lanes_total(v: f32, #[comptime] lanes: usize) -> f32 {
    let mut total = v;
    if comptime!(lanes > 1) {
        total = plane_sum(v);
    }
    total
}

/// Adds `W[row, c] · gain[c] · x[j, c]` over this lane's columns to `acc[j]` for every row j of
/// `x: [n, cols]` (without the gain when `with_gain` is off), and `x[j, c]²` to `squares[j]`
/// when `count_squares` is on: an RMSNorm folded into the product's input.
#[allow(clippy::too_many_arguments)]
#[cube]
fn accumulate_row(
    codes: &[u32],
    scales: &[f32],
    offsets: &[f32],
    row: usize,
    x: &[f32],
    gain: &[f32],
    cols: usize,
    acc: &mut Array<f32>,
    squares: &mut Array<f32>,
    #[comptime] n: usize,
    #[comptime] bits: u32,
    #[comptime] group: usize,
    #[comptime] lanes: usize,
    #[comptime] with_gain: bool,
    #[comptime] count_squares: bool,
) {
    let per_word = comptime!((32 / bits) as usize);
    let words_per_group = comptime!(group / per_word);
    let words = cols / per_word;
    let groups = cols / group;
    // One lane walks its row group by group, reading each scale once (what CPU adapters run
    // fastest); a plane's lanes take consecutive words, so their reads coalesce.
    if comptime!(lanes == 1) {
        for g in 0..groups {
            let (scale, offset) = (scales[row * groups + g], offsets[row * groups + g]);
            #[unroll]
            for k in 0..words_per_group {
                let w = g * words_per_group + k;
                accumulate_word(codes[row * words + w], w, scale, offset, x, gain, cols, acc, squares, n, bits, with_gain, count_squares);
            }
        }
    } else {
        for w in range_stepped(lane(lanes), words, lanes) {
            let g = row * groups + w / words_per_group;
            accumulate_word(codes[row * words + w], w, scales[g], offsets[g], x, gain, cols, acc, squares, n, bits, with_gain, count_squares);
        }
    }
}

/// `accumulate_row` for the columns of one word of codes.
#[allow(clippy::too_many_arguments)]
#[cube]
fn accumulate_word(
    word: u32,
    w: usize,
    scale: f32,
    offset: f32,
    x: &[f32],
    gain: &[f32],
    cols: usize,
    acc: &mut Array<f32>,
    squares: &mut Array<f32>,
    #[comptime] n: usize,
    #[comptime] bits: u32,
    #[comptime] with_gain: bool,
    #[comptime] count_squares: bool,
) {
    let per_word = comptime!((32 / bits) as usize);
    let mask = comptime!(((1u64 << bits) - 1) as u32);
    #[unroll]
    for s in 0..per_word {
        let c = w * per_word + s;
        let mut weight = f32::cast_from((word >> comptime!(s as u32 * bits)) & mask) * scale + offset;
        if with_gain {
            weight *= gain[c];
        }
        #[unroll]
        for j in 0..n {
            let value = x[j * cols + c];
            acc[j] += weight * value;
            if count_squares {
                squares[j] += value * value;
            }
        }
    }
}

/// 1 / √(mean(x²) + ε) of a row from this lane's sum of squares where the norm is folded into
/// the product; 1 where the input was normalised already.
#[cube]
fn inverse_rms(squares: f32, d: usize, eps: f32, #[comptime] lanes: usize, #[comptime] folded: bool) -> f32 {
    let mut inv = f32::new(1.0);
    if folded {
        inv = 1.0f32 / (lanes_total(squares, lanes) / f32::cast_from(d) + eps).sqrt();
    }
    inv
}

#[cube]
fn zeros(#[comptime] n: usize) -> Array<f32> {
    let mut a = Array::<f32>::new(n);
    #[unroll]
    for j in 0..n {
        a[j] = 0.0;
    }
    a
}

/// The item this invocation works on: planes stack along y; single lanes run along x, which
/// is the axis CPU adapters vectorise (lavapipe ran the products ~15× slower with one lane
/// along x and the items along y).
#[cube]
fn item(#[comptime] lanes: usize) -> usize {
    let mut index = ABSOLUTE_POS;
    if comptime!(lanes > 1) {
        index = CUBE_POS * CUBE_DIM_Y as usize + UNIT_POS_Y as usize;
    }
    index
}

/// This invocation's lane within its item.
#[cube]
fn lane(#[comptime] lanes: usize) -> usize {
    let mut index = 0;
    if comptime!(lanes > 1) {
        index = UNIT_POS_X as usize;
    }
    index
}

/// A head's projection (q, k or v) of RMSNorm(x), bias added, RoPE applied (`rotate`), for one
/// pair of dimensions per item: the rotated pairs (i, i + half) or (2i, 2i + 1), then the
/// unrotated tail two by two. The result goes to `out: [n, heads·head_dim]`, or, `to_cache`,
/// into the cache `[n, heads, capacity, head_dim]` at this step's position.
#[allow(clippy::too_many_arguments)]
#[cube(launch_unchecked)]
pub(super) fn head_projection_kernel(
    x: &[f32],
    gain: &[f32],
    codes: &[u32],
    scales: &[f32],
    offsets: &[f32],
    bias: &[f32],
    step_in: &[f32],
    out: &mut [f32],
    d: usize,
    heads: usize,
    capacity: usize,
    eps: f32,
    #[comptime] n: usize,
    #[comptime] head_dim: usize,
    #[comptime] rope_half: usize,
    #[comptime] halves: bool,
    #[comptime] rotate: bool,
    #[comptime] to_cache: bool,
    #[comptime] with_bias: bool,
    #[comptime] bits: u32,
    #[comptime] group: usize,
    #[comptime] lanes: usize,
    #[comptime] folded: bool,
) {
    let pairs_per_head = comptime!(head_dim / 2);
    let index = item(lanes);
    if index >= heads * pairs_per_head {
        terminate!();
    }
    let head = index / pairs_per_head;
    let i = index % pairs_per_head;
    let rotated = i < rope_half;
    let mut da = 2 * i;
    let mut db = da + 1;
    if rotated {
        if halves {
            da = i;
            db = i + rope_half;
        }
    } else {
        da = comptime!(2 * rope_half) + 2 * (i - rope_half);
        db = da + 1;
    }
    let (ra, rb) = (head * head_dim + da, head * head_dim + db);

    let mut acc_a = zeros(n);
    let mut acc_b = zeros(n);
    let mut squares = zeros(n);
    let mut unused = zeros(n);
    accumulate_row(codes, scales, offsets, ra, x, gain, d, &mut acc_a, &mut squares, n, bits, group, lanes, folded, folded);
    accumulate_row(codes, scales, offsets, rb, x, gain, d, &mut acc_b, &mut unused, n, bits, group, lanes, folded, false);

    let pos = position(step_in);
    let mut cos = f32::new(1.0);
    let mut sin = f32::new(0.0);
    // Two ifs: `rotate` is known when the kernel compiles, `rotated` only when it runs.
    if rotate {
        if rotated {
            cos = step_in[1 + i];
            sin = step_in[1 + comptime!(rope_half) + i];
        }
    }
    let mut bias_a = f32::new(0.0);
    let mut bias_b = f32::new(0.0);
    if with_bias {
        bias_a = bias[ra];
        bias_b = bias[rb];
    }
    #[unroll]
    for j in 0..n {
        let a = lanes_total(acc_a[j], lanes);
        let b = lanes_total(acc_b[j], lanes);
        let inv_rms = inverse_rms(squares[j], d, eps, lanes, folded);
        let ya = a * inv_rms + bias_a;
        let yb = b * inv_rms + bias_b;
        if lane(lanes) == 0 {
            let (oa, ob) = (ya * cos - yb * sin, yb * cos + ya * sin);
            if to_cache {
                let base = ((j * heads + head) * capacity + pos) * head_dim;
                out[base + da] = oa;
                out[base + db] = ob;
            } else {
                let base = j * heads * head_dim;
                out[base + ra] = oa;
                out[base + rb] = ob;
            }
        }
    }
}

/// softmax(q·kᵀ/√d)·v for one (row, query head) per item over the cached positions
/// `[padding[row], position]`, streaming over the keys with an online softmax. Lane `l` holds
/// dimensions l, l + lanes, … of the head.
#[allow(clippy::too_many_arguments)]
#[cube(launch_unchecked)]
pub(super) fn attention_kernel(
    q: &[f32],
    k_cache: &[f32],
    v_cache: &[f32],
    step_in: &[f32],
    padding: &[u32],
    out: &mut [f32],
    rows: usize,
    heads: usize,
    kv_heads: usize,
    capacity: usize,
    scale: f32,
    #[comptime] head_dim: usize,
    #[comptime] lanes: usize,
) {
    let index = item(lanes);
    if index >= rows * heads {
        terminate!();
    }
    let per_lane = comptime!(head_dim / lanes);
    let first_dim = lane(lanes);
    let head = index % heads;
    let row = index / heads;
    let kv_head = head / (heads / kv_heads);
    let q_base = (row * heads + head) * head_dim + first_dim;
    let kv_base = (row * kv_heads + kv_head) * capacity * head_dim + first_dim;
    let first = usize::cast_from(padding[row]);
    let last = position(step_in);

    let mut query = Array::<f32>::new(per_lane);
    let mut acc = Array::<f32>::new(per_lane);
    #[unroll]
    for p in 0..per_lane {
        query[p] = q[q_base + p * lanes] * scale;
        acc[p] = 0.0;
    }
    let mut running_max = f32::new(-3.0e38);
    let mut total = f32::new(0.0);
    for t in first..last + 1 {
        let key = kv_base + t * head_dim;
        let mut partial = 0.0f32;
        #[unroll]
        for p in 0..per_lane {
            partial += query[p] * k_cache[key + p * lanes];
        }
        let score = lanes_total(partial, lanes);
        let new_max = max(running_max, score);
        let rescale = (running_max - new_max).exp();
        let weight = (score - new_max).exp();
        total = total * rescale + weight;
        #[unroll]
        for p in 0..per_lane {
            acc[p] = acc[p] * rescale + weight * v_cache[key + p * lanes];
        }
        running_max = new_max;
    }
    #[unroll]
    for p in 0..per_lane {
        out[q_base + p * lanes] = acc[p] / total;
    }
}

/// `residual[j, r] += Σ_c W[r, c] · x[j, c]`: an output projection with the residual add as
/// its epilogue.
#[allow(clippy::too_many_arguments)]
#[cube(launch_unchecked)]
pub(super) fn residual_product_kernel(
    x: &[f32],
    codes: &[u32],
    scales: &[f32],
    offsets: &[f32],
    residual: &mut [f32],
    rows: usize,
    cols: usize,
    #[comptime] n: usize,
    #[comptime] bits: u32,
    #[comptime] group: usize,
    #[comptime] lanes: usize,
) {
    let row = item(lanes);
    if row >= rows {
        terminate!();
    }
    let mut acc = zeros(n);
    let mut unused = zeros(n);
    accumulate_row(codes, scales, offsets, row, x, scales, cols, &mut acc, &mut unused, n, bits, group, lanes, false, false);
    #[unroll]
    for j in 0..n {
        let total = lanes_total(acc[j], lanes);
        if lane(lanes) == 0 {
            residual[j * rows + row] += total;
        }
    }
}

/// `out[j, offset + r] = Σ_c W[r, c] · RMSNorm(x)[j, c]` into rows of width `out_cols`; with
/// `gate_in_place`, `out[j, r] = silu(out[j, r]) · that` (SwiGLU's up projection meeting the
/// gate already written there).
#[allow(clippy::too_many_arguments)]
#[cube(launch_unchecked)]
pub(super) fn norm_product_kernel(
    x: &[f32],
    gain: &[f32],
    codes: &[u32],
    scales: &[f32],
    offsets: &[f32],
    out: &mut [f32],
    rows: usize,
    cols: usize,
    out_cols: usize,
    offset: usize,
    eps: f32,
    #[comptime] n: usize,
    #[comptime] bits: u32,
    #[comptime] group: usize,
    #[comptime] lanes: usize,
    #[comptime] gate_in_place: bool,
    #[comptime] folded: bool,
) {
    let row = item(lanes);
    if row >= rows {
        terminate!();
    }
    let mut acc = zeros(n);
    let mut squares = zeros(n);
    accumulate_row(codes, scales, offsets, row, x, gain, cols, &mut acc, &mut squares, n, bits, group, lanes, folded, folded);
    #[unroll]
    for j in 0..n {
        let total = lanes_total(acc[j], lanes);
        let inv_rms = inverse_rms(squares[j], cols, eps, lanes, folded);
        if lane(lanes) == 0 {
            let at = j * out_cols + offset + row;
            let y = total * inv_rms;
            if gate_in_place {
                let g = out[at];
                out[at] = g / (1.0f32 + (-g).exp()) * y;
            } else {
                out[at] = y;
            }
        }
    }
}

/// `x[j] = E[tokens[j]]` for the tokens inside this block of embedding rows
/// `[start, start + block_rows)`; one item per (row of the batch, word of the embedding row).
#[allow(clippy::too_many_arguments)]
#[cube(launch_unchecked)]
pub(super) fn embed_kernel(
    tokens: &[u32],
    codes: &[u32],
    scales: &[f32],
    offsets: &[f32],
    x: &mut [f32],
    n: usize,
    start: usize,
    block_rows: usize,
    cols: usize,
    #[comptime] bits: u32,
    #[comptime] group: usize,
) {
    let per_word = comptime!((32 / bits) as usize);
    let mask = comptime!(((1u64 << bits) - 1) as u32);
    let words = cols / per_word;
    let index = ABSOLUTE_POS;
    if index >= n * words {
        terminate!();
    }
    let j = index / words;
    let w = index % words;
    let token = usize::cast_from(tokens[j]);
    if token < start || token >= start + block_rows {
        terminate!();
    }
    let row = token - start;
    let g = row * (cols / group) + w * per_word / group;
    let (scale, offset) = (scales[g], offsets[g]);
    let word = codes[row * words + w];
    #[unroll]
    for s in 0..per_word {
        x[j * cols + w * per_word + s] = f32::cast_from((word >> comptime!(s as u32 * bits)) & mask) * scale + offset;
    }
}
