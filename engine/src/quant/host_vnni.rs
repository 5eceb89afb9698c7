//! The few-row product with 16-bit integer activations and integer dot products (AVX-512
//! VNNI's `vpdpwssd` on 256-bit vectors), chosen at run time when the CPU has it; `I16Rows` says
//! how activations are rounded.
//!
//! For 32 columns of one weight row and one row of `x`:
//! `Σ w·x = Σ_g scale[g]·xscale·(codes_g · values_g) + offset[g]·Σ_g x`,
//! where each `vpdpwssd` multiplies 16 codes (widened to 16 bits) by 16 values and sums
//! neighbouring pairs into 8 integer lanes: one instruction per 16 columns, so a group of 16
//! takes its own scale. The offset term uses exact sums of `x`.

use std::arch::x86_64::*;

use super::i16_rows::{BLOCK, I16Rows};

/// Rows of `x` one pass over a weight row serves: each keeps one accumulator register.
const ROWS_PER_PASS: usize = 8;

pub fn available() -> bool {
    is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("avx512vnni")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512bw")
}

/// What one weight row needs: its packed codes and its groups' scales and offsets.
/// 4- and 5-bit codes: within each 32 columns, byte `j` holds (the low 4 bits of) column `j` in its low nibble and column
/// `j + 16` in its high nibble. 8-bit codes: one byte per column.
pub struct RowCodes<'a> {
    pub codes: &'a [u8],
    /// 5-bit codes: the fifth bits, one word per 32 columns (bit `j` for column `j`).
    pub high_bits: &'a [u32],
    pub scales: &'a [f32],
    pub offsets: &'a [f32],
}

/// `out[b] = Σ_c W[r, c]·x[b, c]` for one weight row and every row of `x` (`out.len()` of them).
///
/// # Safety
/// The CPU must have the features `available()` checks; `bits` is 4, 5 or 8 and `group` 16 or 32
/// (4- and 5-bit codes come in groups of 32); `x` was quantized for this `group`.
#[target_feature(enable = "avx2,fma,avx512vnni,avx512vl,avx512bw")]
pub unsafe fn row_dot(row: &RowCodes, bits: u32, group: usize, x: &I16Rows, out: &mut [f32]) {
    let cols = x.cols;
    let groups = cols / group;
    assert!(x.rows() == out.len() && x.sums.len() == out.len() * x.sums_per_row && x.sums_per_row >= groups);
    let code_bytes = if bits == 8 { cols } else { cols / 2 };
    assert!(row.codes.len() >= code_bytes && row.scales.len() >= groups && row.offsets.len() >= groups);
    assert!(bits != 5 || row.high_bits.len() >= cols / 32);
    let mut first = 0;
    while first < out.len() {
        let rows = (out.len() - first).min(ROWS_PER_PASS);
        let part = &mut out[first..first + rows];
        // SAFETY: the features are the caller's promise; the shapes are checked above.
        unsafe {
            match (bits, group) {
                (4, 32) => passes::<4, 32>(row, x, first, part),
                (8, 32) => passes::<8, 32>(row, x, first, part),
                (8, 16) => passes::<8, 16>(row, x, first, part),
                (5, 32) => passes::<5, 32>(row, x, first, part),
                _ => panic!("no integer-dot kernel for {bits}-bit codes in groups of {group}"),
            }
        }
        first += rows;
    }
}

#[target_feature(enable = "avx2,fma,avx512vnni,avx512vl,avx512bw")]
unsafe fn passes<const BITS: u32, const GROUP: usize>(row: &RowCodes, x: &I16Rows, first: usize, out: &mut [f32]) {
    // SAFETY: passed through from `row_dot`.
    unsafe {
        match out.len() {
            1 => pass::<1, BITS, GROUP>(row, x, first, out),
            2 => pass::<2, BITS, GROUP>(row, x, first, out),
            3 => pass::<3, BITS, GROUP>(row, x, first, out),
            4 => pass::<4, BITS, GROUP>(row, x, first, out),
            5 => pass::<5, BITS, GROUP>(row, x, first, out),
            6 => pass::<6, BITS, GROUP>(row, x, first, out),
            7 => pass::<7, BITS, GROUP>(row, x, first, out),
            _ => pass::<8, BITS, GROUP>(row, x, first, out),
        }
    }
}

/// Rows `first..first + N` of `x` against one weight row, written to `out`.
#[target_feature(enable = "avx2,fma,avx512vnni,avx512vl,avx512bw")]
unsafe fn pass<const N: usize, const BITS: u32, const GROUP: usize>(row: &RowCodes, x: &I16Rows, first: usize, out: &mut [f32]) {
    let cols = x.cols;
    let blocks = cols / BLOCK;
    let groups = cols / GROUP;
    // Index and pointer arithmetic below wraps, and values load through intrinsics, instead of
    // `*`, `+` and `ptr::add`, which debug builds check at every use (overflow, alignment, UB
    // preconditions): in this loop the checks cost more than the arithmetic. Every pointer stays
    // inside the slices whose lengths `row_dot` checked.
    // SAFETY: as said.
    unsafe {
        // Fixed-size arrays indexed by literals (the `each_row!` expansion), so that every row's
        // accumulator lives in a register; only the first N entries are used.
        let row_start = |b: usize| (first + b.min(N - 1)).wrapping_mul(cols);
        let value_rows: [*const i16; ROWS_PER_PASS] = std::array::from_fn(|b| x.values.as_ptr().wrapping_add(row_start(b)));
        let scale_rows: [*const f32; ROWS_PER_PASS] = std::array::from_fn(|b| x.scales.as_ptr().wrapping_add(row_start(b) / BLOCK));
        let sum_rows: [*const f32; ROWS_PER_PASS] = std::array::from_fn(|b| x.sums.as_ptr().wrapping_add((first + b.min(N - 1)).wrapping_mul(x.sums_per_row)));
        let mut acc = [_mm256_setzero_ps(); ROWS_PER_PASS];
        macro_rules! each_row {
            ($step:ident) => {
                $step!(0);
                $step!(1);
                $step!(2);
                $step!(3);
                $step!(4);
                $step!(5);
                $step!(6);
                $step!(7);
            };
        }
        for block in 0..blocks {
            let col = block.wrapping_mul(BLOCK);
            // Columns 0–15 and 16–31 of the block as 16-bit codes.
            let (low, high) = if BITS != 8 {
                let bytes = _mm_loadu_si128(row.codes.as_ptr().wrapping_add(col / 2) as *const __m128i);
                let nibble = _mm_set1_epi8(0x0f);
                (_mm_and_si128(bytes, nibble), _mm_and_si128(_mm_srli_epi16(bytes, 4), nibble))
            } else {
                let bytes = row.codes.as_ptr().wrapping_add(col) as *const __m128i;
                (_mm_loadu_si128(bytes), _mm_loadu_si128(bytes.wrapping_add(1)))
            };
            let (mut low, mut high) = (_mm256_cvtepu8_epi16(low), _mm256_cvtepu8_epi16(high));
            if BITS == 5 {
                // Each set bit of the word becomes 16 in its column's 16-bit code.
                let fifth = row.high_bits.as_ptr().wrapping_add(block).read();
                let sixteen = _mm256_set1_epi16(16);
                low = _mm256_or_si256(low, _mm256_and_si256(_mm256_movm_epi16(fifth as u16), sixteen));
                high = _mm256_or_si256(high, _mm256_and_si256(_mm256_movm_epi16((fifth >> 16) as u16), sixteen));
            }
            let scales = row.scales.as_ptr().wrapping_add(col / GROUP);
            let (scale_low, scale_high) = (broadcast(scales), broadcast(scales.wrapping_add(BLOCK / GROUP - 1)));
            macro_rules! block_step {
                ($b:literal) => {
                    if $b < N {
                        let v = value_rows[$b].wrapping_add(col) as *const __m256i;
                        let x_scale = broadcast(scale_rows[$b].wrapping_add(block));
                        let dot_low = _mm256_dpwssd_epi32(_mm256_setzero_si256(), low, _mm256_loadu_si256(v));
                        if GROUP == 32 {
                            let dot = _mm256_dpwssd_epi32(dot_low, high, _mm256_loadu_si256(v.wrapping_add(1)));
                            acc[$b] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_mul_ps(scale_low, x_scale), acc[$b]);
                        } else {
                            let dot_high = _mm256_dpwssd_epi32(_mm256_setzero_si256(), high, _mm256_loadu_si256(v.wrapping_add(1)));
                            acc[$b] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot_low), _mm256_mul_ps(scale_low, x_scale), acc[$b]);
                            acc[$b] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot_high), _mm256_mul_ps(scale_high, x_scale), acc[$b]);
                        }
                    }
                };
            }
            each_row!(block_step);
        }
        // The offset term `Σ_g offset[g]·Σ_{c∈g} x[c]`, 8 groups at a time into the same sums.
        for g in (0..groups).step_by(8) {
            let offsets = if g + 8 <= groups {
                _mm256_loadu_ps(row.offsets.as_ptr().wrapping_add(g))
            } else {
                let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
                let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(groups.wrapping_sub(g) as i32), lanes);
                _mm256_maskload_ps(row.offsets.as_ptr().wrapping_add(g), mask)
            };
            macro_rules! offset_step {
                ($b:literal) => {
                    if $b < N {
                        acc[$b] = _mm256_fmadd_ps(offsets, _mm256_loadu_ps(sum_rows[$b].wrapping_add(g)), acc[$b]);
                    }
                };
            }
            each_row!(offset_step);
        }
        for (o, a) in out.iter_mut().zip(acc) {
            *o = super::host_avx2::horizontal_sum(a);
        }
    }
}

/// `*p` in all 8 lanes.
#[target_feature(enable = "avx2")]
unsafe fn broadcast(p: *const f32) -> __m256 {
    // SAFETY: the caller passes a pointer to a readable f32.
    unsafe { _mm256_broadcastss_ps(_mm_load_ss(p)) }
}
