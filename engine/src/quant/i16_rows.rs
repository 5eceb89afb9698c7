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
        let mut scales = Vec::with_capacity(x.len() / BLOCK);
        for (block, out) in x.chunks_exact(BLOCK).zip(values.chunks_exact_mut(BLOCK)) {
            let max = block.iter().fold(0f32, |m, v| m.max(v.abs()));
            let scale = max / 32767.0;
            let inverse = if scale > 0.0 { 1.0 / scale } else { 0.0 };
            for (o, v) in out.iter_mut().zip(block) {
                *o = round(v * inverse) as i16;
            }
            scales.push(scale);
        }
        let (sums, sums_per_row) = group_sums(x, cols, group);
        Self { values, scales, sums, sums_per_row, cols }
    }

    pub fn rows(&self) -> usize {
        self.values.len() / self.cols
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
