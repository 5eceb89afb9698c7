//! The fused few-row product of `HostQuant` with AVX2 and FMA, chosen at run time when the CPU
//! has them. Each group is dequantized once into registers (`w = code·scale + offset`) and then
//! multiplied into every row of `x`, with one vector accumulator per row of `x` for the whole
//! weight row, so the only horizontal sums are one per output.

use std::arch::x86_64::*;

use super::host::RowCodes;

/// The shapes the kernel handles: rows of `x` it keeps accumulators for, and group layouts.
pub fn supports(bits: u32, group: usize, n: usize) -> bool {
    n <= super::host::FUSED_MAX_ROWS && ((bits == 8 && group % 16 == 0) || (bits == 4 && group % 32 == 0))
}

pub fn available() -> bool {
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
}

/// `out[b] = Σ_c W[r, c]·x[b, c]` for one weight row and `n = out.len()` rows of `x`
/// (`x: [n, cols]`, row-major).
///
/// # Safety
/// The CPU must support AVX2 and FMA (`available()`), and `supports(bits, group, n)` must hold.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn row_dot(row: RowCodes, bits: u32, group: usize, x: &[f32], cols: usize, out: &mut [f32]) {
    let n = out.len();
    let groups = cols / group;
    // The loads below are unchecked; these bounds make them in range.
    assert!(x.len() >= n * cols && row.codes.len() >= cols * bits as usize / 8);
    assert!(row.scales.len() >= groups && row.offsets.len() >= groups);
    // SAFETY: every load is in range by the asserts above; the caller guarantees the features.
    let acc = unsafe {
        let mut acc = [_mm256_setzero_ps(); super::host::FUSED_MAX_ROWS];
        for g in 0..groups {
            let scale = _mm256_set1_ps(row.scales[g]);
            let offset = _mm256_set1_ps(row.offsets[g]);
            let dequantize = |codes: __m128i| _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(codes)), scale, offset);
            let base = g * group;
            if bits == 4 {
                // 16 bytes hold 32 columns: columns 0–15 in the low nibbles, 16–31 in the high ones.
                for col in (base..base + group).step_by(32) {
                    let bytes = _mm_loadu_si128(row.codes.as_ptr().add(col / 2) as *const __m128i);
                    let low = _mm_and_si128(bytes, _mm_set1_epi8(0x0f));
                    let high = _mm_and_si128(_mm_srli_epi16(bytes, 4), _mm_set1_epi8(0x0f));
                    let w = [dequantize(low), dequantize(_mm_srli_si128(low, 8)), dequantize(high), dequantize(_mm_srli_si128(high, 8))];
                    for (b, a) in acc.iter_mut().enumerate().take(n) {
                        let x = x.as_ptr().add(b * cols + col);
                        // Two short independent chains, then one add into the accumulator: the
                        // accumulator's latency is paid once per 32 columns, not four times.
                        let p = _mm256_fmadd_ps(w[1], _mm256_loadu_ps(x.add(8)), _mm256_mul_ps(w[0], _mm256_loadu_ps(x)));
                        let q = _mm256_fmadd_ps(w[3], _mm256_loadu_ps(x.add(24)), _mm256_mul_ps(w[2], _mm256_loadu_ps(x.add(16))));
                        *a = _mm256_add_ps(*a, _mm256_add_ps(p, q));
                    }
                }
            } else {
                for col in (base..base + group).step_by(16) {
                    let codes = _mm_loadu_si128(row.codes.as_ptr().add(col) as *const __m128i);
                    let w = [dequantize(codes), dequantize(_mm_srli_si128(codes, 8))];
                    for (b, a) in acc.iter_mut().enumerate().take(n) {
                        let x = x.as_ptr().add(b * cols + col);
                        let p = _mm256_fmadd_ps(w[1], _mm256_loadu_ps(x.add(8)), _mm256_mul_ps(w[0], _mm256_loadu_ps(x)));
                        *a = _mm256_add_ps(*a, p);
                    }
                }
            }
        }
        acc
    };
    for (o, a) in out.iter_mut().zip(acc) {
        *o = horizontal_sum(a);
    }
}

#[target_feature(enable = "avx2,fma")]
pub(super) fn horizontal_sum(v: __m256) -> f32 {
    let halves = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let pairs = _mm_add_ps(halves, _mm_movehl_ps(halves, halves));
    let one = _mm_add_ss(pairs, _mm_shuffle_ps(pairs, pairs, 1));
    _mm_cvtss_f32(one)
}
