//! Rows of activations as 16-bit integers with one scale per 32 columns, for the integer-dot
//! products on the CPU (`host_tiles`): `x[b, c] ≈ scale[b, c / 32] · value[b, c]`, `|value| ≤ 32767`.
//! A rounding step is 1/32767 of the block's largest value. 8 bits (llama.cpp's choice) moved
//! logits by up to 3.1 on SmolLM2's fixtures, where one huge activation in a block swamps the
//! block's other values; 16 bits move them by about 0.02.

/// Columns sharing one scale.
pub const BLOCK: usize = 32;

#[derive(Debug)]
pub struct I16Rows {
    pub values: Vec<i16>,
    /// `[n, cols / BLOCK]`
    pub scales: Vec<f32>,
    /// Exact sums of `x` over each group of the weight's columns (the offset term
    /// `offset[g] · Σ_{c∈g} x[c]` needs no rounding), `[n, sums_per_row]`, each row padded with
    /// zeros to a multiple of 8 groups so that a kernel reads them 8 at a time.
    pub sums: Vec<f32>,
    pub sums_per_row: usize,
    pub cols: usize,
}

impl I16Rows {
    /// `x: [n, cols]` row-major, `cols` a multiple of 32, for a weight whose groups span `group` columns.
    pub fn quantize(x: &[f32], cols: usize, group: usize) -> Self {
        assert!(cols % BLOCK == 0 && x.len() % cols == 0 && cols % group == 0);
        let mut values = vec![0i16; x.len()];
        let mut scales = vec![0f32; x.len() / BLOCK];
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has the feature (checked just above).
            unsafe { round_blocks_avx512(x, &mut values, &mut scales) }
        } else {
            round_blocks(x, &mut values, &mut scales)
        }
        let (sums, sums_per_row) = group_sums(x, cols, group);
        Self { values, scales, sums, sums_per_row, cols }
    }

    pub fn rows(&self) -> usize {
        self.values.len() / self.cols
    }
}

/// `round_blocks` in explicit vectors: one block is two vectors (left to itself, the compiler
/// vectorises across blocks, with gathers).
#[target_feature(enable = "avx512f")]
unsafe fn round_blocks_avx512(x: &[f32], values: &mut [i16], scales: &mut [f32]) {
    use std::arch::x86_64::*;
    assert!(values.len() == x.len() && scales.len() * BLOCK == x.len());
    // SAFETY: block `b` reads and writes 32 values at `32·b`, inside `x` and `values` (checked).
    unsafe {
        let shift = _mm512_set1_ps(12_582_912.0);
        for (b, scale_out) in scales.iter_mut().enumerate() {
            let at = b * BLOCK;
            let (low, high) = (_mm512_loadu_ps(x.as_ptr().add(at)), _mm512_loadu_ps(x.as_ptr().add(at + 16)));
            let max = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(low), _mm512_abs_ps(high)));
            let scale = max / 32767.0;
            let inverse = _mm512_set1_ps(if scale > 0.0 { 1.0 / scale } else { 0.0 });
            // As `round`: ties to even.
            let round = |v: __m512| _mm512_cvtps_epi32(_mm512_sub_ps(_mm512_add_ps(_mm512_mul_ps(v, inverse), shift), shift));
            _mm256_storeu_si256(values.as_mut_ptr().add(at) as *mut __m256i, _mm512_cvtepi32_epi16(round(low)));
            _mm256_storeu_si256(values.as_mut_ptr().add(at + 16) as *mut __m256i, _mm512_cvtepi32_epi16(round(high)));
            *scale_out = scale;
        }
    }
}

/// Each block of 32 values of `x` to `values` and its scale to `scales`.
#[inline(always)]
fn round_blocks(x: &[f32], values: &mut [i16], scales: &mut [f32]) {
    for ((block, out), scale_out) in x.chunks_exact(BLOCK).zip(values.chunks_exact_mut(BLOCK)).zip(scales.iter_mut()) {
        // Two halves' lane-wise maxima first (they vectorise), then across the lanes.
        let mut lanes = [0f32; BLOCK / 2];
        for half in block.chunks_exact(BLOCK / 2) {
            for (l, v) in lanes.iter_mut().zip(half) {
                *l = l.max(v.abs());
            }
        }
        let max = lanes.iter().fold(0f32, |m, &v| m.max(v));
        let scale = max / 32767.0;
        let inverse = if scale > 0.0 { 1.0 / scale } else { 0.0 };
        for (o, v) in out.iter_mut().zip(block) {
            *o = round(v * inverse) as i16;
        }
        *scale_out = scale;
    }
}

/// `y` (|y| ≤ 32767.5) to the nearest integer, ties to even: adding and subtracting 1.5·2²³ leaves
/// no fraction bits, and unlike `f32::round` (a library call per value) the loop vectorizes.
fn round(y: f32) -> f32 {
    const SHIFT: f32 = 12_582_912.0;
    (y + SHIFT) - SHIFT
}

/// Exact sums of `x: [n, cols]` over each group of `group` columns, `[n, sums_per_row]`, each row
/// padded with zeros to a multiple of 8 groups; with `sums_per_row`.
pub fn group_sums(x: &[f32], cols: usize, group: usize) -> (Vec<f32>, usize) {
    let sums_per_row = (cols / group).next_multiple_of(8);
    let mut sums = vec![0f32; x.len() / cols * sums_per_row];
    for (row, out) in x.chunks_exact(cols).zip(sums.chunks_exact_mut(sums_per_row)) {
        for (g, o) in row.chunks_exact(group).zip(out.iter_mut()) {
            *o = g.iter().sum();
        }
    }
    (sums, sums_per_row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_rounding_equals_the_portable_rounding() {
        if !is_x86_feature_detected!("avx512f") {
            return;
        }
        let mut rng = crate::generate::Rng::new(5, 0);
        let mut x: Vec<f32> = (0..32 * 40).map(|_| (rng.next_f64() as f32 - 0.5) * 20.0).collect();
        x[64..96].fill(0.0);
        // Exact ties: the block's maximum is 32767, so its scale is 1 and x · inverse = x.
        x[96] = 32767.0;
        x[97..101].copy_from_slice(&[0.5, 1.5, -2.5, 3.5]);
        let (mut values, mut scales) = (vec![0i16; x.len()], vec![0f32; x.len() / BLOCK]);
        round_blocks(&x, &mut values, &mut scales);
        let (mut vector_values, mut vector_scales) = (vec![0i16; x.len()], vec![0f32; x.len() / BLOCK]);
        // SAFETY: the CPU has the feature (checked above).
        unsafe { round_blocks_avx512(&x, &mut vector_values, &mut vector_scales) };
        assert_eq!(scales, vector_scales);
        assert_eq!(values, vector_values);
        assert_eq!(values[97..101], [0, 2, -2, 4]);
    }

    #[test]
    fn rounding_error_is_at_most_half_a_step() {
        let mut rng = crate::generate::Rng::new(3, 0);
        let cols = 96;
        let mut x: Vec<f32> = (0..2 * cols).map(|_| (rng.next_f64() as f32 - 0.5) * 8.0).collect();
        x[32..64].fill(0.0); // an all-zero block has scale 0 and values 0
        x[100] = -300.0;
        let q = I16Rows::quantize(&x, cols, 32);
        for (i, v) in x.iter().enumerate() {
            let scale = q.scales[i / BLOCK];
            assert!((scale * q.values[i] as f32 - v).abs() <= scale / 2.0 + 1e-6, "{i}");
        }
        assert_eq!(q.scales[1], 0.0);
        assert_eq!(q.values[100], -32767);
        // 3 groups of 32 per row, padded to 8.
        assert_eq!(q.sums_per_row, 8);
        assert!((q.sums[8 + 2] - x[cols + 64..cols + 96].iter().sum::<f32>()).abs() < 1e-4);
        assert_eq!(q.sums[8 + 3..16], [0.0; 5]);
    }
}
