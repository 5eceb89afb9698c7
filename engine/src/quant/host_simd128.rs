//! The fused few-row product of `HostQuant` with WebAssembly's 128-bit SIMD (the page's CPU
//! path; the build enables `simd128`, so there is nothing to detect at run time). The same
//! scheme as the AVX2 kernel at a quarter of its width: each group is dequantized once into
//! registers (`w = code·scale + offset`) and multiplied into every row of `x`, with one vector
//! accumulator per row of `x` for the whole weight row.

use std::arch::wasm32::*;

use super::host::RowCodes;

/// The shapes the kernel handles: rows of `x` it keeps accumulators for, and group layouts.
pub fn supports(bits: u32, group: usize, n: usize) -> bool {
    n <= super::host::FUSED_MAX_ROWS && ((bits == 8 && group % 16 == 0) || (bits == 4 && group % 32 == 0))
}

/// 16 codes (one byte each) → four vectors of dequantized weights.
#[inline(always)]
fn dequantize(codes: v128, scale: v128, offset: v128) -> [v128; 4] {
    let (low, high) = (u16x8_extend_low_u8x16(codes), u16x8_extend_high_u8x16(codes));
    [u32x4_extend_low_u16x8(low), u32x4_extend_high_u16x8(low), u32x4_extend_low_u16x8(high), u32x4_extend_high_u16x8(high)]
        .map(|c| f32x4_add(f32x4_mul(f32x4_convert_u32x4(c), scale), offset))
}

/// `Σ w[i]·x[i]` over 16 columns, as one vector of partial sums.
///
/// # Safety
/// `x` must point at 16 readable f32.
#[inline(always)]
unsafe fn dot16(w: &[v128; 4], x: *const f32) -> v128 {
    // SAFETY: the caller guarantees 16 readable f32 at `x`.
    let load = |i: usize| unsafe { v128_load(x.add(4 * i) as *const v128) };
    // Two short independent chains, then one add: the sum's latency is paid once per 16 columns.
    f32x4_add(f32x4_add(f32x4_mul(w[0], load(0)), f32x4_mul(w[1], load(1))), f32x4_add(f32x4_mul(w[2], load(2)), f32x4_mul(w[3], load(3))))
}

/// `out[b] = Σ_c W[r, c]·x[b, c]` for one weight row and `n = out.len()` rows of `x`
/// (`x: [n, cols]`, row-major); `supports(bits, group, n)` must hold.
pub fn row_dot(row: RowCodes, bits: u32, group: usize, x: &[f32], cols: usize, out: &mut [f32]) {
    let n = out.len();
    let groups = cols / group;
    // The loads below are unchecked; these bounds make them in range.
    assert!(supports(bits, group, n) && cols % group == 0);
    assert!(x.len() >= n * cols && row.codes.len() >= cols * bits as usize / 8);
    assert!(row.scales.len() >= groups && row.offsets.len() >= groups);
    let mut acc = [f32x4_splat(0.0); super::host::FUSED_MAX_ROWS];
    for g in 0..groups {
        let (scale, offset) = (f32x4_splat(row.scales[g]), f32x4_splat(row.offsets[g]));
        let base = g * group;
        if bits == 4 {
            // 16 bytes hold 32 columns: columns 0–15 in the low nibbles, 16–31 in the high ones.
            for col in (base..base + group).step_by(32) {
                // SAFETY: `col / 2 + 16 <= cols / 2 <= codes.len()` by the asserts.
                let bytes = unsafe { v128_load(row.codes.as_ptr().add(col / 2) as *const v128) };
                let low = dequantize(v128_and(bytes, u8x16_splat(0x0f)), scale, offset);
                let high = dequantize(u8x16_shr(bytes, 4), scale, offset);
                for (b, a) in acc.iter_mut().enumerate().take(n) {
                    // SAFETY: `b * cols + col + 32 <= n * cols <= x.len()` by the asserts.
                    let sum = unsafe {
                        let x = x.as_ptr().add(b * cols + col);
                        f32x4_add(dot16(&low, x), dot16(&high, x.add(16)))
                    };
                    *a = f32x4_add(*a, sum);
                }
            }
        } else {
            for col in (base..base + group).step_by(16) {
                // SAFETY: `col + 16 <= cols <= codes.len()` by the asserts.
                let w = dequantize(unsafe { v128_load(row.codes.as_ptr().add(col) as *const v128) }, scale, offset);
                for (b, a) in acc.iter_mut().enumerate().take(n) {
                    // SAFETY: `b * cols + col + 16 <= x.len()` by the asserts.
                    *a = f32x4_add(*a, unsafe { dot16(&w, x.as_ptr().add(b * cols + col)) });
                }
            }
        }
    }
    for (o, a) in out.iter_mut().zip(acc) {
        *o = (f32x4_extract_lane::<0>(a) + f32x4_extract_lane::<1>(a)) + (f32x4_extract_lane::<2>(a) + f32x4_extract_lane::<3>(a));
    }
}
