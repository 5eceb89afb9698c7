//! Quantized weights kept in host memory, for the CPU backend (where host memory is the device's).
//! Few-row products (decode) run fused over the packed codes, never expanding a weight:
//! `y[r] = Σ_g scale[r,g]·(codes[r,g] · x_g) + offset[r,g]·Σ x_g`.
//! Many-row products (prefill, scoring) expand a bounded block of rows and use the backend's matmul.

use super::blocks::Decoded;

/// Rows of `x` up to which the fused kernel beats expand-then-matmul.
pub const FUSED_MAX_ROWS: usize = 16;

#[derive(Debug)]
pub struct HostQuant {
    /// 4-bit codes two per byte (even column in the low nibble), or one 8-bit code per byte.
    codes: Vec<u8>,
    scales: Vec<f32>,
    offsets: Vec<f32>,
    rows: usize,
    cols: usize,
    bits: u32,
    group: usize,
}

impl HostQuant {
    pub fn new(decoded: &Decoded, bits: u32, rows: usize, cols: usize) -> Self {
        let codes = if bits == 4 {
            decoded.codes.chunks_exact(2).map(|p| p[0] | (p[1] << 4)).collect()
        } else {
            decoded.codes.clone()
        };
        Self { codes, scales: decoded.scales.clone(), offsets: decoded.offsets.clone(), rows, cols, bits, group: decoded.group }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    pub fn bytes(&self) -> usize {
        self.codes.len() + 4 * (self.scales.len() + self.offsets.len())
    }

    fn row_bytes(&self) -> usize {
        self.cols * self.bits as usize / 8
    }

    /// Codes of one group of row `r` as f32.
    fn group_codes(&self, r: usize, g: usize, out: &mut [f32]) {
        let row = &self.codes[r * self.row_bytes()..(r + 1) * self.row_bytes()];
        if self.bits == 4 {
            let bytes = &row[g * self.group / 2..(g + 1) * self.group / 2];
            for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
                pair[0] = (b & 0x0f) as f32;
                pair[1] = (b >> 4) as f32;
            }
        } else {
            for (o, &b) in out.iter_mut().zip(&row[g * self.group..(g + 1) * self.group]) {
                *o = b as f32;
            }
        }
    }

    /// Rows `[start, end)` as f32, row-major.
    pub fn expand_rows(&self, start: usize, end: usize) -> Vec<f32> {
        let groups = self.cols / self.group;
        let mut out = vec![0f32; (end - start) * self.cols];
        parallel_rows(&mut out, self.cols, |i, row_out| {
            let r = start + i;
            for g in 0..groups {
                let chunk = &mut row_out[g * self.group..(g + 1) * self.group];
                self.group_codes(r, g, chunk);
                let (s, o) = (self.scales[r * groups + g], self.offsets[r * groups + g]);
                chunk.iter_mut().for_each(|c| *c = *c * s + o);
            }
        });
        out
    }

    /// Rows named by `ids`, as f32.
    pub fn gather_rows(&self, ids: &[usize]) -> Vec<f32> {
        ids.iter().flat_map(|&r| self.expand_rows(r, r + 1)).collect()
    }

    /// `x · Wᵀ` for `x: [n, cols]` (row-major) → `[n, rows]`.
    pub fn matmul_t(&self, x: &[f32], n: usize) -> Vec<f32> {
        self.matmul_t_with(x, n, true)
    }

    /// As `matmul_t`; `simd: false` forces the portable kernel (to test one against the other).
    fn matmul_t_with(&self, x: &[f32], n: usize, simd: bool) -> Vec<f32> {
        #[cfg(not(target_arch = "x86_64"))]
        let _ = simd;
        let groups = self.cols / self.group;
        // Output computed as [rows, n] so threads own whole weight rows; transposed at the end.
        let mut by_row = vec![0f32; self.rows * n];
        #[cfg(target_arch = "x86_64")]
        if simd && super::host_avx2::supports(self.bits, self.group, n) && super::host_avx2::available() {
            parallel_rows(&mut by_row, n, |r, out| {
                let row = super::host_avx2::RowCodes {
                    codes: &self.codes[r * self.row_bytes()..(r + 1) * self.row_bytes()],
                    scales: &self.scales[r * groups..(r + 1) * groups],
                    offsets: &self.offsets[r * groups..(r + 1) * groups],
                };
                // SAFETY: the CPU has AVX2 and FMA, and the shape is one the kernel supports.
                unsafe { super::host_avx2::row_dot(row, self.bits, self.group, x, self.cols, out) }
            });
            return transpose(&by_row, self.rows, n);
        }
        let x_sums: Vec<f32> = x.chunks_exact(self.group).map(|g| g.iter().sum()).collect();
        parallel_rows(&mut by_row, n, |r, out| {
            let mut codes = vec![0f32; self.group];
            for g in 0..groups {
                self.group_codes(r, g, &mut codes);
                let (s, o) = (self.scales[r * groups + g], self.offsets[r * groups + g]);
                for (b, y) in out.iter_mut().enumerate() {
                    let xg = &x[b * self.cols + g * self.group..b * self.cols + (g + 1) * self.group];
                    let dot = dot(&codes, xg);
                    *y += s * dot + o * x_sums[b * groups + g];
                }
            }
        });
        transpose(&by_row, self.rows, n)
    }
}

/// `[rows, n]` → `[n, rows]`.
fn transpose(by_row: &[f32], rows: usize, n: usize) -> Vec<f32> {
    let mut out = vec![0f32; n * rows];
    for r in 0..rows {
        for b in 0..n {
            out[b * rows + r] = by_row[r * n + b];
        }
    }
    out
}

/// `Σ a·b` with eight independent partial sums, which the compiler maps onto SIMD lanes (one
/// running sum would force strict left-to-right order). Lengths are multiples of 8 (groups of 16 or 32).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    for (ca, cb) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for k in 0..8 {
            acc[k] += ca[k] * cb[k];
        }
    }
    acc.iter().sum()
}

/// Runs `f(row_index, row)` over the rows of `out` (each `width` long) on all cores.
fn parallel_rows(out: &mut [f32], width: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    let rows = out.len() / width.max(1);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(rows.max(1));
    if threads <= 1 || rows < 64 {
        out.chunks_exact_mut(width).enumerate().for_each(|(i, row)| f(i, row));
        return;
    }
    let per_thread = rows.div_ceil(threads);
    let run = |t: usize, block: &mut [f32]| {
        for (i, row) in block.chunks_exact_mut(width).enumerate() {
            f(t * per_thread + i, row);
        }
    };
    std::thread::scope(|scope| {
        let mut blocks = out.chunks_mut(per_thread * width).enumerate();
        // The calling thread takes the first block itself: one thread fewer to start per product.
        let first = blocks.next();
        for (t, block) in blocks {
            let run = &run;
            scope.spawn(move || run(t, block));
        }
        if let Some((t, block)) = first {
            run(t, block);
        }
    });
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::gguf::TensorType;
    use crate::quant::{code_bits, decode_blocks};

    /// Random blocks of `ty` with small finite scales.
    pub(crate) fn random_blocks(ty: TensorType, blocks: usize, seed: u64) -> Vec<u8> {
        let mut rng = crate::generate::Rng::new(seed, 0);
        let mut bytes: Vec<u8> = (0..blocks * ty.block_bytes() as usize).map(|_| rng.next_u64() as u8).collect();
        // Keep the f16 scales small and finite: overwrite them with 0x1400 (≈ 0.001).
        let scale_offsets: &[usize] = match ty {
            TensorType::Q6K => &[208],
            TensorType::Q4_1 | TensorType::Q5_1 | TensorType::Q4K | TensorType::Q5K => &[0, 2],
            _ => &[0],
        };
        for b in bytes.chunks_exact_mut(ty.block_bytes() as usize) {
            for &o in scale_offsets {
                b[o] = 0x00;
                b[o + 1] = 0x14;
            }
        }
        bytes
    }

    #[test]
    fn fused_product_equals_expanded_product() {
        for ty in [TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q8_0, TensorType::Q4K, TensorType::Q5K, TensorType::Q6K] {
            let (rows, cols) = (70, 512);
            let blocks = rows * cols / ty.block_elements() as usize;
            let decoded = decode_blocks(ty, &random_blocks(ty, blocks, 1));
            let host = HostQuant::new(&decoded, code_bits(ty), rows, cols);
            let w = decoded.to_f32();
            assert_eq!(host.expand_rows(0, rows), w, "{ty:?}");
            let mut rng = crate::generate::Rng::new(9, 0);
            // Both kernels (SIMD where the CPU has it, and the portable one), at batch sizes
            // the fused path takes (1, 3 and its largest), against the product of the expanded matrix.
            for (n, simd) in [(1, true), (3, true), (FUSED_MAX_ROWS, true), (1, false), (3, false)] {
                let x: Vec<f32> = (0..n * cols).map(|_| rng.next_f64() as f32 - 0.5).collect();
                let y = host.matmul_t_with(&x, n, simd);
                for b in 0..n {
                    for r in 0..rows {
                        let want: f32 = (0..cols).map(|c| x[b * cols + c] * w[r * cols + c]).sum();
                        let got = y[b * rows + r];
                        assert!((got - want).abs() <= 1e-4 * (1.0 + want.abs()), "{ty:?} n={n} simd={simd} [{b},{r}]: {got} vs {want}");
                    }
                }
            }
        }
    }
}
