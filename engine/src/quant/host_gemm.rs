//! The many-row product (prefill, scoring) with 16-bit integer activations on AVX-512 VNNI.
//!
//! Weight rows are taken 32 at a time (a `Tile`) with their codes widened to 16 bits and each
//! pair of neighbouring columns kept side by side per row, so that one 512-bit `vpdpwssd`
//! multiplies two columns of 16 weight rows by the same two values of one activation row
//! (broadcast). Per group of columns the integer sums are scaled once:
//! `y[b, r] = Σ_g scale[r, g]·xscale[b, g]·(codes · values) + offset[r, g]·Σ_g x[b]`,
//! the same sums the few-row kernel (`host_vnni`) makes, in another order.

use std::arch::x86_64::*;

use super::i16_rows::{BLOCK, I16Rows};

/// Weight rows in one tile: two vectors of 16 lanes.
pub const TILE_ROWS: usize = 32;
/// Rows of `x` one pass serves: each holds two integer and two float accumulators.
const X_ROWS: usize = 6;

/// 32 weight rows ready for the kernel (rows past the weight's end are zero).
pub struct Tile {
    /// `codes[(p·32 + r)·2 + j]` is column `2p + j` of tile row `r`.
    pub codes: Vec<i16>,
    /// `[groups, 32]`
    pub scales: Vec<f32>,
    /// `[groups, 32]`
    pub offsets: Vec<f32>,
}

impl Tile {
    pub fn zeroed(cols: usize, group: usize) -> Self {
        let groups = cols / group;
        Self { codes: vec![0; cols * TILE_ROWS], scales: vec![0.0; groups * TILE_ROWS], offsets: vec![0.0; groups * TILE_ROWS] }
    }

    /// Places row `r` of the tile: its codes as 16-bit integers, its groups' scales and offsets.
    pub fn set_row(&mut self, r: usize, codes: &[i16], scales: &[f32], offsets: &[f32]) {
        for (p, pair) in codes.chunks_exact(2).enumerate() {
            let at = (p * TILE_ROWS + r) * 2;
            self.codes[at..at + 2].copy_from_slice(pair);
        }
        for (g, (&s, &o)) in scales.iter().zip(offsets).enumerate() {
            self.scales[g * TILE_ROWS + r] = s;
            self.offsets[g * TILE_ROWS + r] = o;
        }
    }
}

pub fn available() -> bool {
    is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw") && is_x86_feature_detected!("avx512vnni")
}

/// `out[b·32 + r] = Σ_c tile[r, c]·x[b, c]` for every row `b` of `x`.
///
/// # Safety
/// The CPU must have the features `available()` checks; `group` is 16 or 32, `x` was quantized
/// for it, and `tile` was made for `x.cols` columns in groups of `group`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub unsafe fn tile_product(tile: &Tile, group: usize, x: &I16Rows, out: &mut [f32]) {
    let (n, cols) = (x.rows(), x.cols);
    let groups = cols / group;
    assert!(out.len() == n * TILE_ROWS && tile.codes.len() == cols * TILE_ROWS && tile.scales.len() == groups * TILE_ROWS && tile.offsets.len() == groups * TILE_ROWS);
    assert!(x.sums_per_row >= groups && x.sums.len() == n * x.sums_per_row && x.scales.len() == n * cols / BLOCK);
    let mut first = 0;
    while first < n {
        let rows = (n - first).min(X_ROWS);
        let part = &mut out[first * TILE_ROWS..(first + rows) * TILE_ROWS];
        // SAFETY: the features are the caller's promise; the shapes are checked above.
        unsafe {
            match group {
                32 => passes::<32>(tile, x, first, part),
                16 => passes::<16>(tile, x, first, part),
                _ => panic!("no many-row integer kernel for groups of {group}"),
            }
        }
        first += rows;
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn passes<const GROUP: usize>(tile: &Tile, x: &I16Rows, first: usize, out: &mut [f32]) {
    // SAFETY: passed through from `tile_product`.
    unsafe {
        match out.len() / TILE_ROWS {
            1 => pass::<1, GROUP>(tile, x, first, out),
            2 => pass::<2, GROUP>(tile, x, first, out),
            3 => pass::<3, GROUP>(tile, x, first, out),
            4 => pass::<4, GROUP>(tile, x, first, out),
            5 => pass::<5, GROUP>(tile, x, first, out),
            _ => pass::<6, GROUP>(tile, x, first, out),
        }
    }
}

/// Rows `first..first + N` of `x` against the tile, written to `out: [N, 32]`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn pass<const N: usize, const GROUP: usize>(tile: &Tile, x: &I16Rows, first: usize, out: &mut [f32]) {
    let cols = x.cols;
    let groups = cols / GROUP;
    // As in `host_vnni::pass`: wrapping arithmetic and intrinsic loads, because debug builds
    // check `+`, `ptr::add` and `*` at every use; every pointer stays inside the slices whose
    // lengths `tile_product` checked.
    // SAFETY: as said.
    unsafe {
        let row = |b: usize| first + b.min(N - 1);
        // Column pairs of each row of `x`, one 32-bit word per pair.
        let pairs: [*const i16; X_ROWS] = std::array::from_fn(|b| x.values.as_ptr().wrapping_add(row(b).wrapping_mul(cols)));
        let x_scales: [*const f32; X_ROWS] = std::array::from_fn(|b| x.scales.as_ptr().wrapping_add(row(b).wrapping_mul(cols / BLOCK)));
        let x_sums: [*const f32; X_ROWS] = std::array::from_fn(|b| x.sums.as_ptr().wrapping_add(row(b).wrapping_mul(x.sums_per_row)));
        let mut result = [[_mm512_setzero_ps(); 2]; X_ROWS];
        macro_rules! each_row {
            ($step:ident) => {
                $step!(0);
                $step!(1);
                $step!(2);
                $step!(3);
                $step!(4);
                $step!(5);
            };
        }
        for g in 0..groups {
            let mut dots = [[_mm512_setzero_si512(); 2]; X_ROWS];
            let first_col = g.wrapping_mul(GROUP);
            let codes = tile.codes.as_ptr().wrapping_add(first_col.wrapping_mul(TILE_ROWS));
            for k in 0..GROUP / 2 {
                let w = codes.wrapping_add(k.wrapping_mul(2 * TILE_ROWS));
                let (w0, w1) = (_mm512_loadu_si512(w as *const _), _mm512_loadu_si512(w.wrapping_add(TILE_ROWS) as *const _));
                let col = first_col.wrapping_add(2 * k);
                macro_rules! pair_step {
                    ($b:literal) => {
                        if $b < N {
                            let v = _mm512_broadcastd_epi32(_mm_loadu_si32(pairs[$b].wrapping_add(col) as *const u8));
                            dots[$b][0] = _mm512_dpwssd_epi32(dots[$b][0], w0, v);
                            dots[$b][1] = _mm512_dpwssd_epi32(dots[$b][1], w1, v);
                        }
                    };
                }
                each_row!(pair_step);
            }
            let at = g.wrapping_mul(TILE_ROWS);
            let scales = [_mm512_loadu_ps(tile.scales.as_ptr().wrapping_add(at)), _mm512_loadu_ps(tile.scales.as_ptr().wrapping_add(at + 16))];
            let offsets = [_mm512_loadu_ps(tile.offsets.as_ptr().wrapping_add(at)), _mm512_loadu_ps(tile.offsets.as_ptr().wrapping_add(at + 16))];
            macro_rules! group_step {
                ($b:literal) => {
                    if $b < N {
                        let x_scale = _mm512_set1_ps(_mm_cvtss_f32(_mm_load_ss(x_scales[$b].wrapping_add(first_col / BLOCK))));
                        let x_sum = _mm512_set1_ps(_mm_cvtss_f32(_mm_load_ss(x_sums[$b].wrapping_add(g))));
                        for h in 0..2 {
                            let scaled = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dots[$b][h]), _mm512_mul_ps(scales[h], x_scale), result[$b][h]);
                            result[$b][h] = _mm512_fmadd_ps(offsets[h], x_sum, scaled);
                        }
                    }
                };
            }
            each_row!(group_step);
        }
        macro_rules! store_step {
            ($b:literal) => {
                if $b < N {
                    let o = out.as_mut_ptr().wrapping_add($b * TILE_ROWS);
                    _mm512_storeu_ps(o, result[$b][0]);
                    _mm512_storeu_ps(o.wrapping_add(16), result[$b][1]);
                }
            };
        }
        each_row!(store_step);
    }
}
