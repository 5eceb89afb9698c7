//! Each row's best candidates for the next token, chosen on the device: a step then reads back
//! a few hundred numbers a row instead of the vocabulary's logits, and the host finishes the
//! draw from them (`generate::sampling::sample_shortlisted`) as it would from the whole row.
//!
//! One cube per row. It finds the row's largest logit after the repetition penalty, `ln Σ eᶩ`
//! of the raw logits (for log-probabilities) and `Σ e^((l − max)/T)` of the penalised ones (for
//! top-p without top-k), then a threshold τ by bisection over the logits' order-preserving bit
//! patterns such that between `wanted` and `capacity` logits are ≥ τ, and writes every one of
//! them out, unsorted. A set closed under "≥ τ" holds each of its ties, so the host's ranking of
//! it (by logit, then id) is the ranking's exact prefix.

use burn::tensor::{Bytes, Int, Tensor};
use burn_cubecl::cubecl;
use burn_cubecl::{CubeBackend, kernel::into_contiguous};
use cubecl::prelude::*;

use crate::generate::Shortlisted;

/// Invocations of a row's cube.
const THREADS: usize = 256;

/// Floats before a row's candidates: how many logits are ≥ τ (more than `capacity` when ties
/// overflow it), `ln Σ eᶩ` over the raw logits, `Σ e^((l − max)/T)` over the penalised ones, and
/// how many logits are finite.
pub const HEADER: usize = 4;

/// Floats a candidate takes: id, raw logit, penalised logit.
pub const CANDIDATE: usize = 3;

/// What `shortlist` is asked for.
#[derive(Debug, Clone, Copy)]
pub struct Request {
    /// Logits each row's set should hold at least (fewer if the row has fewer finite ones).
    pub wanted: usize,
    /// Room for candidates a row; the bisection stops once the set fits it.
    pub capacity: usize,
    /// llama.cpp's form: positive logits divided, negative multiplied (1 is none).
    pub penalty: f32,
    pub temperature: f32,
}

/// `[rows, HEADER + CANDIDATE · capacity]` for `logits: [rows, vocab]` on a CubeCL device;
/// `history` is each row's penalised ids as a bit set of `vocab.div_ceil(32)` words a row
/// (only read when the request's penalty is not 1).
pub fn shortlist(logits: &Tensor<2>, history: &[u32], request: Request) -> Tensor<2> {
    let [rows, vocab] = logits.dims();
    let logits_cube = into_contiguous(logits.clone().try_into_primitive::<CubeBackend>().expect("logits on a CubeCL device"));
    let client = logits_cube.client.clone();
    let device = logits.device();
    let penalise = request.penalty != 1.0;
    let words = if penalise { history.len() } else { 1 };
    let bits = Tensor::<1, Int>::empty([words], &device).try_into_primitive::<CubeBackend>().expect("a CubeCL device");
    if penalise {
        assert_eq!(history.len(), rows * vocab.div_ceil(32), "a history bit set per row");
        client.write(&bits.handle, Bytes::from_elems(history.to_vec()));
    }
    let width = HEADER + CANDIDATE * request.capacity;
    let out = into_contiguous(Tensor::<2>::empty([rows, width], &device).try_into_primitive::<CubeBackend>().expect("a CubeCL device"));
    unsafe {
        shortlist_kernel::launch_unchecked(
            &client,
            CubeCount::Static(rows as u32, 1, 1),
            CubeDim::new_1d(THREADS as u32),
            logits_cube.into_buffer_arg(),
            bits.into_buffer_arg(),
            out.clone().into_buffer_arg(),
            vocab,
            width,
            request.wanted.max(1) as u32,
            request.capacity as u32,
            request.penalty,
            1.0 / request.temperature.max(f32::MIN_POSITIVE),
            penalise,
        );
    }
    Tensor::from_primitive::<CubeBackend>(out)
}

/// The rows of `shortlist`'s output, read back.
pub fn rows(flat: &[f32], vocab: usize, capacity: usize) -> Vec<Shortlisted> {
    flat.chunks(HEADER + CANDIDATE * capacity)
        .map(|row| {
            let held = row[0] as usize;
            let candidates = row[HEADER..].chunks(CANDIDATE).take(held.min(capacity)).map(|c| (c[0] as u32, c[1])).collect();
            Shortlisted { candidates, complete: held <= capacity && row[3] as usize == vocab, vocab, total: row[2] as f64, log_z: row[1] }
        })
        .collect()
}

/// Whether an f32's bits are a finite number.
#[cube]
fn finite(bits: u32) -> bool {
    (bits & 0x7f80_0000u32) != 0x7f80_0000u32
}

/// The logit after the repetition penalty, where `id` is in the row's history.
#[allow(clippy::too_many_arguments)]
#[cube]
fn penalised(raw: f32, id: usize, row: usize, words: usize, history: &[u32], penalty: f32, #[comptime] penalise: bool) -> f32 {
    let mut l = raw;
    if penalise {
        let word = history[row * words + id / 32];
        if (word >> u32::cast_from(id % 32)) & 1u32 == 1u32 {
            l = select(raw > 0.0, raw / penalty, raw * penalty);
        }
    }
    l
}

/// An order-preserving map of finite f32s to u32s (−0 taken as +0).
#[cube]
fn order_key(l: f32) -> u32 {
    let bits = u32::reinterpret(l + 0.0);
    select(bits >= 0x8000_0000u32, bits ^ 0xffff_ffffu32, bits | 0x8000_0000u32)
}

/// How many of this invocation's logits of `row` are finite with a penalised key ≥ `threshold`.
#[allow(clippy::too_many_arguments)]
#[cube]
fn keys_at_least(logits: &[f32], history: &[u32], row: usize, vocab: usize, words: usize, penalty: f32, threshold: u32, #[comptime] penalise: bool) -> u32 {
    let base = row * vocab;
    let mut here = 0u32;
    let mut i = UNIT_POS as usize;
    while i < vocab {
        let raw = logits[base + i];
        if finite(u32::reinterpret(raw)) && order_key(penalised(raw, i, row, words, history, penalty, penalise)) >= threshold {
            here += 1u32;
        }
        i += THREADS;
    }
    here
}

/// Every invocation's `value` combined, for all of them: the largest (`largest`) or the sum.
#[cube]
fn cube_reduce<N: Numeric + CubePartialOrd>(shared: &mut Shared<[N]>, value: N, #[comptime] largest: bool) -> N {
    sync_cube();
    shared[UNIT_POS as usize] = value;
    sync_cube();
    let mut active = CUBE_DIM;
    while active > 1 {
        active /= 2;
        if UNIT_POS < active {
            let other = shared[(UNIT_POS + active) as usize];
            let mine = shared[UNIT_POS as usize];
            let mut combined = mine + other;
            if comptime!(largest) {
                combined = max(mine, other);
            }
            shared[UNIT_POS as usize] = combined;
        }
        sync_cube();
    }
    shared[0]
}

#[allow(clippy::too_many_arguments)]
#[cube(launch_unchecked)]
fn shortlist_kernel(logits: &[f32], history: &[u32], out: &mut [f32], vocab: usize, width: usize, wanted: u32, capacity: u32, penalty: f32, inv_temperature: f32, #[comptime] penalise: bool) {
    let row = CUBE_POS;
    let t = UNIT_POS_X as usize;
    let base = row * vocab;
    let words = (vocab + 31) / 32;
    let mut floats = Shared::<[f32]>::new_slice(THREADS);
    let mut counts = Shared::<[u32]>::new_slice(THREADS);

    // The largest raw and penalised logits, and how many are finite.
    let mut raw_max = f32::new(f32::MIN);
    let mut top = f32::new(f32::MIN);
    let mut finite_here = 0u32;
    let mut i = t;
    while i < vocab {
        let raw = logits[base + i];
        if finite(u32::reinterpret(raw)) {
            raw_max = max(raw_max, raw);
            top = max(top, penalised(raw, i, row, words, history, penalty, penalise));
            finite_here += 1u32;
        }
        i += THREADS;
    }
    let raw_max = cube_reduce(&mut floats, raw_max, true);
    let top = cube_reduce(&mut floats, top, true);
    let finite_count = cube_reduce(&mut counts, finite_here, false);

    let mut raw_sum = 0f32;
    let mut total = 0f32;
    let mut i = t;
    while i < vocab {
        let raw = logits[base + i];
        if finite(u32::reinterpret(raw)) {
            raw_sum += (raw - raw_max).exp();
            total += ((penalised(raw, i, row, words, history, penalty, penalise) - top) * inv_temperature).exp();
        }
        i += THREADS;
    }
    let raw_sum = cube_reduce(&mut floats, raw_sum, false);
    let total = cube_reduce(&mut floats, total, false);

    // The largest τ with at least `wanted` keys ≥ τ, unless one with at most `capacity` is met
    // first. `at_least` counts the keys ≥ `low`.
    let mut low = 0u32;
    let mut high = order_key(top);
    let mut at_least = finite_count;
    let mut searching = finite_count > capacity;
    while searching && low < high {
        let mid = low + (high - low + 1u32) / 2u32;
        let count = cube_reduce(&mut counts, keys_at_least(logits, history, row, vocab, words, penalty, mid, penalise), false);
        if count >= wanted {
            low = mid;
            at_least = count;
            searching = count > capacity;
        } else {
            high = mid - 1u32;
        }
    }

    // Each invocation's keys ≥ τ, at offsets from an exclusive scan of their counts.
    let here = keys_at_least(logits, history, row, vocab, words, penalty, low, penalise);
    sync_cube();
    counts[t] = here;
    sync_cube();
    if t == 0 {
        let mut offset = 0u32;
        let mut k = 0usize;
        while k < THREADS {
            let c = counts[k];
            counts[k] = offset;
            offset += c;
            k += 1;
        }
    }
    sync_cube();
    let mut slot = counts[t];
    let row_out = row * width;
    let mut i = t;
    while i < vocab {
        let raw = logits[base + i];
        if finite(u32::reinterpret(raw)) {
            let l = penalised(raw, i, row, words, history, penalty, penalise);
            if order_key(l) >= low {
                if slot < capacity {
                    let at = row_out + HEADER + CANDIDATE * usize::cast_from(slot);
                    out[at] = f32::cast_from(u32::cast_from(i));
                    out[at + 1] = raw;
                    out[at + 2] = l;
                }
                slot += 1u32;
            }
        }
        i += THREADS;
    }
    if t == 0 {
        out[row_out] = f32::cast_from(at_least);
        out[row_out + 1] = raw_max + raw_sum.ln();
        out[row_out + 2] = total;
        out[row_out + 3] = f32::cast_from(finite_count);
    }
}
