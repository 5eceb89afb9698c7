//! Quantized weights kept in host memory, for the CPU backend (where host memory is the device's),
//! multiplied without expanding them: `y[r] = Σ_g scale[r,g]·(codes[r,g] · x_g) + offset[r,g]·Σ x_g`.
//! - Where the CPU has AVX-512 VNNI, weights are stored in tiles of 16 rows (`host_tiles`) and every
//!   product (decode, prefill, scoring) runs there: with 16-bit integer activations by default, or
//!   exactly in f32.
//! - Elsewhere they are stored row by row; few-row products (decode) run fused (AVX2 and FMA,
//!   WebAssembly's SIMD128, or portable code) and many-row ones expand a bounded block of rows for
//!   the backend's matmul.

use super::blocks::Decoded;

/// Rows of `x` up to which the row-by-row kernels beat expand-then-matmul.
pub const FUSED_MAX_ROWS: usize = 16;

/// What one weight row gives a SIMD row kernel: its packed codes and its groups' scales and offsets.
#[cfg_attr(not(any(target_arch = "x86_64", all(target_arch = "wasm32", target_feature = "simd128"))), allow(dead_code))]
pub struct RowCodes<'a> {
    pub codes: &'a [u8],
    pub scales: &'a [f32],
    pub offsets: &'a [f32],
}

#[derive(Debug)]
pub struct HostQuant {
    storage: Storage,
    rows: usize,
    cols: usize,
    group: usize,
}

#[derive(Debug)]
enum Storage {
    /// 4-bit codes two per byte (within each 32 columns, byte `j` holds column `j` in its low
    /// nibble and column `j + 16` in its high one, as GGUF's Q4_0 does), or one 8-bit code per
    /// byte, row after row; `[rows, groups]` scales and offsets.
    Rows { codes: Vec<u8>, bits: u32, scales: Vec<f32>, offsets: Vec<f32> },
    #[cfg(target_arch = "x86_64")]
    Tiles(super::host_tiles::Tiles),
}

impl HostQuant {
    /// `bits`: the code container (4 or 8).
    pub fn new(decoded: &Decoded, bits: u32, rows: usize, cols: usize) -> Self {
        #[cfg(target_arch = "x86_64")]
        let supported = super::host_tiles::supports(bits, decoded.group);
        #[cfg(not(target_arch = "x86_64"))]
        let supported = false;
        Self::with_layout(decoded, bits, rows, cols, supported && tiles_available())
    }

    fn with_layout(decoded: &Decoded, bits: u32, rows: usize, cols: usize, tiles: bool) -> Self {
        #[cfg(target_arch = "x86_64")]
        if tiles {
            return Self { storage: Storage::Tiles(super::host_tiles::Tiles::new(decoded, bits, rows, cols)), rows, cols, group: decoded.group };
        }
        let _ = tiles;
        let codes = if bits == 8 { decoded.codes.clone() } else { decoded.codes.chunks_exact(32).flat_map(|c| (0..16).map(move |j| (c[j] & 0x0f) | (c[j + 16] << 4))).collect() };
        Self { storage: Storage::Rows { codes, bits, scales: decoded.scales.clone(), offsets: decoded.offsets.clone() }, rows, cols, group: decoded.group }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    pub fn bytes(&self) -> usize {
        match &self.storage {
            Storage::Rows { codes, scales, offsets, .. } => codes.len() + 4 * (scales.len() + offsets.len()),
            #[cfg(target_arch = "x86_64")]
            Storage::Tiles(tiles) => tiles.bytes(),
        }
    }

    /// Codes of one group of row `r` as f32.
    fn group_codes(&self, r: usize, g: usize, out: &mut [f32]) {
        match &self.storage {
            Storage::Rows { codes, bits: 8, .. } => {
                for (o, &b) in out.iter_mut().zip(&codes[r * self.cols + g * self.group..]) {
                    *o = b as f32;
                }
            }
            Storage::Rows { codes, .. } => {
                let bytes = &codes[(r * self.cols + g * self.group) / 2..][..self.group / 2];
                for (bytes, out) in bytes.chunks_exact(16).zip(out.chunks_exact_mut(32)) {
                    for (j, b) in bytes.iter().enumerate() {
                        out[j] = (b & 0x0f) as f32;
                        out[j + 16] = (b >> 4) as f32;
                    }
                }
            }
            #[cfg(target_arch = "x86_64")]
            Storage::Tiles(tiles) => tiles.group_codes(r, g, out),
        }
    }

    /// Scale and offset of group `g` of row `r`.
    fn scale_offset(&self, r: usize, g: usize) -> (f32, f32) {
        match &self.storage {
            Storage::Rows { scales, offsets, .. } => {
                let at = r * (self.cols / self.group) + g;
                (scales[at], offsets[at])
            }
            #[cfg(target_arch = "x86_64")]
            Storage::Tiles(tiles) => tiles.scale_offset(r, g),
        }
    }

    /// Row `r` of row storage, for the SIMD row kernels.
    #[cfg_attr(not(any(target_arch = "x86_64", all(target_arch = "wasm32", target_feature = "simd128"))), allow(dead_code))]
    fn row_codes(&self, r: usize) -> RowCodes<'_> {
        // Only x86-64 builds have tiles.
        #[allow(irrefutable_let_patterns)]
        let Storage::Rows { codes, bits, scales, offsets } = &self.storage else { unreachable!("tiles have no rows") };
        let (row_bytes, groups) = (self.cols * *bits as usize / 8, self.cols / self.group);
        RowCodes { codes: &codes[r * row_bytes..(r + 1) * row_bytes], scales: &scales[r * groups..(r + 1) * groups], offsets: &offsets[r * groups..(r + 1) * groups] }
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
                let (s, o) = self.scale_offset(r, g);
                chunk.iter_mut().for_each(|c| *c = *c * s + o);
            }
        });
        out
    }

    /// Rows named by `ids`, as f32.
    pub fn gather_rows(&self, ids: &[usize]) -> Vec<f32> {
        ids.iter().flat_map(|&r| self.expand_rows(r, r + 1)).collect()
    }

    /// Whether products of any number of rows of `x` run here (else more than `FUSED_MAX_ROWS`
    /// rows take expand-then-matmul).
    pub fn multiplies_many_rows(&self) -> bool {
        match &self.storage {
            // In WebAssembly the SIMD128 row kernel, block by block, beats expanding the weights
            // for burn-flex's matmul (BENCHMARKS.md); natively the expanding path is faster.
            Storage::Rows { bits, .. } => cfg!(all(target_arch = "wasm32", target_feature = "simd128")) && Kernel::best(*bits, self.group, 1) != Kernel::Portable,
            #[cfg(target_arch = "x86_64")]
            Storage::Tiles(_) => true,
        }
    }

    /// `x · Wᵀ` for `x: [n, cols]` (row-major) → `[n, rows]`, with the fastest kernel this CPU
    /// has for `activations`; `n` at most `FUSED_MAX_ROWS` unless `multiplies_many_rows()`.
    pub fn matmul_t(&self, x: &[f32], n: usize, activations: CpuActivations) -> Vec<f32> {
        // Row storage computes exactly whatever is asked (only tiles round activations).
        #[cfg(not(target_arch = "x86_64"))]
        let _ = activations;
        match &self.storage {
            // SAFETY: tiles are made only where `tiles_available()` found the CPU's features.
            #[cfg(target_arch = "x86_64")]
            Storage::Tiles(tiles) => unsafe { tiles.matmul_t(x, n, activations == CpuActivations::Integer16) },
            // More rows than the row kernels keep accumulators for, block by block.
            Storage::Rows { bits, .. } => x[..n * self.cols]
                .chunks(FUSED_MAX_ROWS * self.cols)
                .flat_map(|block| {
                    let rows = block.len() / self.cols;
                    self.rows_matmul_t(block, rows, Kernel::best(*bits, self.group, rows))
                })
                .collect(),
        }
    }

    /// The row-by-row kernels.
    fn rows_matmul_t(&self, x: &[f32], n: usize, kernel: Kernel) -> Vec<f32> {
        let groups = self.cols / self.group;
        // Output computed as [rows, n] so threads own whole weight rows; transposed at the end.
        let mut by_row = vec![0f32; self.rows * n];
        match (kernel, &self.storage) {
            #[cfg(target_arch = "x86_64")]
            (Kernel::Avx2, Storage::Rows { bits, .. }) => {
                parallel_rows(&mut by_row, n, |r, out| {
                    let row = self.row_codes(r);
                    // SAFETY: `Kernel::best` chose this kernel only where the CPU has its features
                    // and the shape is one it handles.
                    unsafe { super::host_avx2::row_dot(row, *bits, self.group, x, self.cols, out) }
                });
            }
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            (Kernel::Simd128, Storage::Rows { bits, .. }) => {
                parallel_rows(&mut by_row, n, |r, out| {
                    let row = self.row_codes(r);
                    super::host_simd128::row_dot(row, *bits, self.group, x, self.cols, out)
                });
            }
            _ => {
                let x_sums: Vec<f32> = x.chunks_exact(self.group).map(|g| g.iter().sum()).collect();
                parallel_rows(&mut by_row, n, |r, out| {
                    let mut codes = vec![0f32; self.group];
                    for g in 0..groups {
                        self.group_codes(r, g, &mut codes);
                        let (s, o) = self.scale_offset(r, g);
                        for (b, y) in out.iter_mut().enumerate() {
                            let xg = &x[b * self.cols + g * self.group..b * self.cols + (g + 1) * self.group];
                            *y += s * dot(&codes, xg) + o * x_sums[b * groups + g];
                        }
                    }
                });
            }
        }
        transpose(&by_row, self.rows, n)
    }
}

/// How products treat activations on the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CpuActivations {
    /// Rounded to 16-bit integers per 32 columns and multiplied with integer dot products, where
    /// the CPU has AVX-512 VNNI; exact f32 elsewhere. Logits move by at most 0.017 (SmolLM2)
    /// and 0.005 (Qwen2) on the parity fixtures (`integer_products_stay_near_exact_f32_on_cpu`).
    #[default]
    Integer16,
    /// Exact f32 products (what the exact-reference parity tests hold the model to).
    F32,
}

/// The row-by-row kernels, fastest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kernel {
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    Simd128,
    Portable,
}

impl Kernel {
    fn best(bits: u32, group: usize, n: usize) -> Kernel {
        #[cfg(target_arch = "x86_64")]
        {
            static AVX2: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
            if super::host_avx2::supports(bits, group, n) && *AVX2.get_or_init(super::host_avx2::available) {
                return Kernel::Avx2;
            }
        }
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        if super::host_simd128::supports(bits, group, n) {
            return Kernel::Simd128;
        }
        let _ = (bits, group, n);
        Kernel::Portable
    }
}

/// Whether this CPU runs the tile kernels (AVX-512 VNNI).
fn tiles_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static VNNI: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *VNNI.get_or_init(super::host_tiles::available)
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
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

/// Runs `f(row_index, row)` over the rows of `out` (each `width` long) on all cores: natively
/// in rayon's pool, whose threads persist (spawning threads per product cost more than small
/// products take), and serially elsewhere.
fn parallel_rows(out: &mut [f32], width: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    #[cfg(not(target_arch = "wasm32"))]
    if out.len() / width.max(1) >= 64 {
        let rows = out.len() / width.max(1);
        use rayon::prelude::*;
        // Blocks of rows, not single rows: one task per row would cost more than its work.
        let per_task = rows.div_ceil(4 * rayon::current_num_threads()).max(16);
        out.par_chunks_mut(per_task * width).enumerate().for_each(|(t, block)| {
            for (i, row) in block.chunks_exact_mut(width).enumerate() {
                f(t * per_task + i, row);
            }
        });
        return;
    }
    out.chunks_exact_mut(width).enumerate().for_each(|(i, row)| f(i, row));
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
        // Keep the f16 scales small and finite: overwrite them with 0x14xx (≈ 0.001). The random
        // low byte makes k-quant scales (an f16 times a 6- or 8-bit integer) need more than f16.
        let scale_offsets: &[usize] = match ty {
            TensorType::Q6K => &[208],
            TensorType::Q4_1 | TensorType::Q5_1 | TensorType::Q4K | TensorType::Q5K => &[0, 2],
            _ => &[0],
        };
        for b in bytes.chunks_exact_mut(ty.block_bytes() as usize) {
            for &o in scale_offsets {
                b[o + 1] = 0x14;
            }
        }
        bytes
    }

    const FORMATS: [TensorType; 8] = [TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q8_0, TensorType::Q4K, TensorType::Q5K, TensorType::Q6K];

    /// Every f32 kernel this CPU runs, in both layouts it can use, against the product of the
    /// expanded matrix; 70 weight rows end in a partial tile.
    #[test]
    fn exact_products_equal_the_expanded_product() {
        for ty in FORMATS {
            let (rows, cols) = (70, 512);
            let blocks = rows * cols / ty.block_elements() as usize;
            let decoded = decode_blocks(ty, &random_blocks(ty, blocks, 1));
            let w = decoded.to_f32();
            let mut rng = crate::generate::Rng::new(9, 0);
            let layouts = if tiles_available() { vec![false, true] } else { vec![false] };
            for tiles in layouts {
                let host = HostQuant::with_layout(&decoded, code_bits(ty), rows, cols, tiles);
                #[cfg(target_arch = "x86_64")]
                if let Storage::Tiles(t) = &host.storage {
                    // (scales in f16, offsets in f16, offsets derived from scales)
                    let want = match ty {
                        TensorType::Q4_0 | TensorType::Q5_0 | TensorType::Q8_0 => (true, false, true),
                        TensorType::Q4_1 | TensorType::Q5_1 => (true, true, false),
                        TensorType::Q6K => (false, false, true),
                        _ => (false, false, false),
                    };
                    assert_eq!(t.compact(), want, "{ty:?}");
                }
                assert_eq!(host.expand_rows(0, rows), w, "{ty:?} tiles {tiles}");
                assert_eq!(host.gather_rows(&[69, 3]), [&w[69 * cols..], &w[3 * cols..4 * cols]].concat(), "{ty:?} tiles {tiles}");
                let mut runs: Vec<(usize, Option<Kernel>)> = Vec::new();
                if tiles {
                    // Every pass size, a second pass, and more rows than the row kernels take.
                    runs.extend((1..=9).chain([FUSED_MAX_ROWS + 1]).map(|n| (n, None)));
                } else {
                    for kernel in available_row_kernels() {
                        runs.extend([1, 3, FUSED_MAX_ROWS].map(|n| (n, Some(kernel))));
                    }
                }
                for (n, kernel) in runs {
                    if kernel.is_some_and(|k| k != Kernel::Portable && Kernel::best(code_bits(ty), host.group, n) != k) {
                        continue; // the AVX2 kernel does not take this shape
                    }
                    let x: Vec<f32> = (0..n * cols).map(|_| rng.next_f64() as f32 - 0.5).collect();
                    let y = match kernel {
                        Some(k) => host.rows_matmul_t(&x, n, k),
                        None => host.matmul_t(&x, n, CpuActivations::F32),
                    };
                    for b in 0..n {
                        for r in 0..rows {
                            let want: f32 = (0..cols).map(|c| x[b * cols + c] * w[r * cols + c]).sum();
                            let got = y[b * rows + r];
                            assert!((got - want).abs() <= 1e-4 * (1.0 + want.abs()), "{ty:?} n={n} {kernel:?} [{b},{r}]: {got} vs {want}");
                        }
                    }
                }
            }
        }
    }

    fn available_row_kernels() -> Vec<Kernel> {
        let mut kernels = vec![Kernel::Portable];
        #[cfg(target_arch = "x86_64")]
        if super::super::host_avx2::available() {
            kernels.push(Kernel::Avx2);
        }
        kernels
    }

    /// The integer-dot kernel computes exactly `Σ_g scale·xscale·(codes·values) + offset·Σx` of
    /// the rounded activations (checked in f64 to 1e-4), whose distance from the exact product is
    /// bounded by half a rounding step per column: `Σ_c |w_c|·xscale/2`.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn integer_product_equals_its_definition() {
        if !tiles_available() {
            eprintln!("skipped: this CPU has no AVX-512 VNNI");
            return;
        }
        for ty in FORMATS {
            let (rows, cols) = (70, 512);
            let decoded = decode_blocks(ty, &random_blocks(ty, rows * cols / ty.block_elements() as usize, 4));
            let host = HostQuant::with_layout(&decoded, code_bits(ty), rows, cols, true);
            let w = decoded.to_f32();
            let mut rng = crate::generate::Rng::new(11, 0);
            // 1..=9 rows of `x` cover every pass size and a second pass, 17..=22 end on every pass
            // size after two; 70 weight rows end in a partial tile.
            for n in (1..=9).chain(17..=22) {
                let mut x: Vec<f32> = (0..n * cols).map(|_| (rng.next_f64() as f32 - 0.5) * 4.0).collect();
                x[cols / 2] = 50.0; // an outlier, as real activations have
                let y = host.matmul_t(&x, n, CpuActivations::Integer16);
                let q = super::super::i16_rows::I16Rows::quantize(&x, cols, decoded.group);
                for b in 0..n {
                    for r in 0..rows {
                        let (mut want, mut bound, mut exact) = (0f64, 0f64, 0f64);
                        for c in 0..cols {
                            let g = r * cols / decoded.group + c / decoded.group;
                            let xscale = q.scales[(b * cols + c) / 32] as f64;
                            let code = decoded.codes[r * cols + c] as f64;
                            want += decoded.scales[g] as f64 * xscale * code * q.values[b * cols + c] as f64 + decoded.offsets[g] as f64 * x[b * cols + c] as f64;
                            bound += (w[r * cols + c] as f64).abs() * xscale / 2.0;
                            exact += w[r * cols + c] as f64 * x[b * cols + c] as f64;
                        }
                        let got = y[b * rows + r] as f64;
                        assert!((got - want).abs() <= 1e-4 * (1.0 + want.abs()), "{ty:?} n={n} [{b},{r}]: {got} vs {want}");
                        assert!((got - exact).abs() <= bound + 1e-4, "{ty:?} n={n} [{b},{r}]: {got} vs exact {exact}, bound {bound}");
                    }
                }
            }
        }
    }
}

/// Speed of the few-row product alone (not a test: `cargo test --release -p cotnpot-engine --lib
/// -- --ignored --nocapture product_speed`).
#[cfg(test)]
mod speed {
    use super::*;
    use crate::gguf::TensorType;
    use crate::quant::{code_bits, decode_blocks};

    #[test]
    #[ignore]
    fn product_speed() {
        let (rows, cols) = (4864, 896);
        for ty in [TensorType::Q4K, TensorType::Q5_0, TensorType::Q8_0, TensorType::Q6K] {
            let decoded = decode_blocks(ty, &tests::random_blocks(ty, rows * cols / ty.block_elements() as usize, 1));
            let host = HostQuant::new(&decoded, code_bits(ty), rows, cols);
            for n in [1, 8, 64, 512] {
                let x: Vec<f32> = (0..n * cols).map(|i| (i % 7) as f32 - 3.0).collect();
                let reps = (400 / n).max(2);
                let start = std::time::Instant::now();
                for _ in 0..reps {
                    std::hint::black_box(host.matmul_t(&x, n, CpuActivations::Integer16));
                }
                let s = start.elapsed().as_secs_f64();
                eprintln!("{ty:?} n={n}: {:.1} GMAC/s, {:.1} GB/s of weights", (reps * n * rows * cols) as f64 / s / 1e9, (reps * host.bytes()) as f64 / s / 1e9);
            }
        }
    }
}
