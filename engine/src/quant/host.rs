//! Quantized weights kept in host memory, for the CPU backend (where host memory is the device's).
//! Few-row products (decode) run fused over the packed codes, never expanding a weight:
//! `y[r] = Σ_g scale[r,g]·(codes[r,g] · x_g) + offset[r,g]·Σ x_g`.
//! Many-row products (prefill, scoring) take 32 weight rows at a time through an integer-dot
//! kernel where the CPU has AVX-512 VNNI (`host_gemm`), and elsewhere expand a bounded block of
//! rows and use the backend's matmul.

use super::blocks::Decoded;
#[cfg(target_arch = "x86_64")]
use super::i16_rows::I16Rows;

/// Rows of `x` up to which the fused kernel beats expand-then-matmul.
pub const FUSED_MAX_ROWS: usize = 16;

#[derive(Debug)]
pub struct HostQuant {
    /// 4-bit codes two per byte (within each 32 columns, byte `j` holds column `j` in its low
    /// nibble and column `j + 16` in its high one, as GGUF's Q4_0 does), or one 8-bit code per
    /// byte. 5-bit codes (`bits == 5`) keep their low 4 bits here as 4-bit codes do.
    codes: Vec<u8>,
    /// 5-bit codes' fifth bits, one word per 32 columns (bit `j` for column `j`); else empty.
    high_bits: Vec<u32>,
    scales: Vec<f32>,
    offsets: Vec<f32>,
    rows: usize,
    cols: usize,
    bits: u32,
    group: usize,
}

impl HostQuant {
    /// `bits`: the code container (4 or 8). Where the integer-dot kernel runs, codes in 8-bit
    /// containers that all fit 5 bits (the Q5 formats) in groups of 32 are stored in 5 bits
    /// (Q5_0 is most of some "Q4_K_M" files); the f32 SIMD kernel reads bytes only.
    pub fn new(decoded: &Decoded, bits: u32, rows: usize, cols: usize) -> Self {
        let five = bits == 8 && decoded.group == 32 && integer_kernel_available() && decoded.codes.iter().all(|&c| c < 32);
        let bits = if five { 5 } else { bits };
        let (codes, high_bits) = if bits == 8 {
            (decoded.codes.clone(), Vec::new())
        } else {
            let nibbles = decoded.codes.chunks_exact(32).flat_map(|c| (0..16).map(move |j| (c[j] & 0x0f) | (c[j + 16] << 4))).collect();
            let high = if bits == 5 {
                decoded.codes.chunks_exact(32).map(|c| c.iter().enumerate().fold(0u32, |w, (j, &code)| w | (((code >> 4) as u32 & 1) << j))).collect()
            } else {
                Vec::new()
            };
            (nibbles, high)
        };
        Self { codes, high_bits, scales: decoded.scales.clone(), offsets: decoded.offsets.clone(), rows, cols, bits, group: decoded.group }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    pub fn bytes(&self) -> usize {
        self.codes.len() + 4 * (self.high_bits.len() + self.scales.len() + self.offsets.len())
    }

    /// Bytes of `codes` per row.
    fn row_bytes(&self) -> usize {
        if self.bits == 8 { self.cols } else { self.cols / 2 }
    }

    /// Row `r`'s words of `high_bits` (empty unless codes are 5-bit).
    fn row_high_bits(&self, r: usize) -> &[u32] {
        if self.high_bits.is_empty() { &[] } else { &self.high_bits[r * self.cols / 32..(r + 1) * self.cols / 32] }
    }

    /// Codes of one group of row `r` as f32.
    fn group_codes(&self, r: usize, g: usize, out: &mut [f32]) {
        let row = &self.codes[r * self.row_bytes()..(r + 1) * self.row_bytes()];
        if self.bits != 8 {
            let bytes = &row[g * self.group / 2..(g + 1) * self.group / 2];
            for (bytes, out) in bytes.chunks_exact(16).zip(out.chunks_exact_mut(32)) {
                for (j, b) in bytes.iter().enumerate() {
                    out[j] = (b & 0x0f) as f32;
                    out[j + 16] = (b >> 4) as f32;
                }
            }
            if self.bits == 5 {
                let high = self.row_high_bits(r)[g];
                for (j, o) in out.iter_mut().enumerate() {
                    *o += (((high >> j) & 1) << 4) as f32;
                }
            }
        } else {
            for (o, &b) in out.iter_mut().zip(&row[g * self.group..(g + 1) * self.group]) {
                *o = b as f32;
            }
        }
    }

    /// Codes of row `r` as 16-bit integers.
    #[cfg(target_arch = "x86_64")]
    fn row_codes_i16(&self, r: usize, out: &mut [i16]) {
        let row = &self.codes[r * self.row_bytes()..(r + 1) * self.row_bytes()];
        if self.bits == 8 {
            out.iter_mut().zip(row).for_each(|(o, &b)| *o = b as i16);
            return;
        }
        for (bytes, out) in row.chunks_exact(16).zip(out.chunks_exact_mut(32)) {
            for (j, b) in bytes.iter().enumerate() {
                out[j] = (b & 0x0f) as i16;
                out[j + 16] = (b >> 4) as i16;
            }
        }
        if self.bits == 5 {
            for (&high, out) in self.row_high_bits(r).iter().zip(out.chunks_exact_mut(32)) {
                for (j, o) in out.iter_mut().enumerate() {
                    *o |= (((high >> j) & 1) << 4) as i16;
                }
            }
        }
    }

    /// Whether products of more than `FUSED_MAX_ROWS` rows run without expanding the weight.
    pub fn has_many_row_kernel(&self, activations: CpuActivations) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            static GEMM: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
            activations == CpuActivations::Integer16 && *GEMM.get_or_init(super::host_gemm::available)
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = activations;
            false
        }
    }

    /// `x · Wᵀ` for many rows of `x` (`[n, cols]`) → `[n, rows]`, through the integer-dot tile
    /// kernel; one task per 32 weight rows.
    #[cfg(target_arch = "x86_64")]
    fn tiled_matmul_t(&self, x: &[f32], n: usize) -> Vec<f32> {
        use super::host_gemm::{TILE_ROWS, Tile, tile_product};
        let groups = self.cols / self.group;
        let x = I16Rows::quantize(x, self.cols, self.group);
        let tiles = self.rows.div_ceil(TILE_ROWS);
        let mut by_tile = vec![0f32; tiles * n * TILE_ROWS];
        let product = |t: usize, out: &mut [f32]| {
            let mut tile = Tile::zeroed(self.cols, self.group);
            let mut codes = vec![0i16; self.cols];
            for (i, r) in (t * TILE_ROWS..((t + 1) * TILE_ROWS).min(self.rows)).enumerate() {
                self.row_codes_i16(r, &mut codes);
                tile.set_row(i, &codes, &self.scales[r * groups..(r + 1) * groups], &self.offsets[r * groups..(r + 1) * groups]);
            }
            // SAFETY: `has_many_row_kernel` checked the CPU's features; the tile and `x` were
            // made for this weight's columns and groups.
            unsafe { tile_product(&tile, self.group, &x, out) }
        };
        use rayon::prelude::*;
        by_tile.par_chunks_mut(n * TILE_ROWS).enumerate().for_each(|(t, out)| product(t, out));
        let mut out = vec![0f32; n * self.rows];
        for (t, tile_out) in by_tile.chunks_exact(n * TILE_ROWS).enumerate() {
            let width = TILE_ROWS.min(self.rows - t * TILE_ROWS);
            for (b, row) in tile_out.chunks_exact(TILE_ROWS).enumerate() {
                out[b * self.rows + t * TILE_ROWS..][..width].copy_from_slice(&row[..width]);
            }
        }
        out
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

    /// `x · Wᵀ` for `x: [n, cols]` (row-major) → `[n, rows]`, with the fastest kernel this CPU
    /// has for `activations`.
    pub fn matmul_t(&self, x: &[f32], n: usize, activations: CpuActivations) -> Vec<f32> {
        #[cfg(target_arch = "x86_64")]
        if n > FUSED_MAX_ROWS && self.has_many_row_kernel(activations) {
            return self.tiled_matmul_t(x, n);
        }
        self.matmul_t_with(x, n, Kernel::best(activations, self.bits, self.group, n))
    }

    fn matmul_t_with(&self, x: &[f32], n: usize, kernel: Kernel) -> Vec<f32> {
        let groups = self.cols / self.group;
        // Output computed as [rows, n] so threads own whole weight rows; transposed at the end.
        let mut by_row = vec![0f32; self.rows * n];
        #[cfg(target_arch = "x86_64")]
        let row_parts = |r: usize| (&self.codes[r * self.row_bytes()..(r + 1) * self.row_bytes()], &self.scales[r * groups..(r + 1) * groups], &self.offsets[r * groups..(r + 1) * groups]);
        match kernel {
            #[cfg(target_arch = "x86_64")]
            Kernel::IntDot => {
                let x = I16Rows::quantize(x, self.cols, self.group);
                parallel_rows(&mut by_row, n, |r, out| {
                    let (codes, scales, offsets) = row_parts(r);
                    let row = super::host_vnni::RowCodes { codes, high_bits: self.row_high_bits(r), scales, offsets };
                    // SAFETY: `Kernel::best` chose this kernel only where the CPU has its features
                    // and the shape is one it handles.
                    unsafe { super::host_vnni::row_dot(&row, self.bits, self.group, &x, out) }
                });
                return transpose(&by_row, self.rows, n);
            }
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => {
                parallel_rows(&mut by_row, n, |r, out| {
                    let (codes, scales, offsets) = row_parts(r);
                    let row = super::host_avx2::RowCodes { codes, scales, offsets };
                    // SAFETY: as above.
                    unsafe { super::host_avx2::row_dot(row, self.bits, self.group, x, self.cols, out) }
                });
                return transpose(&by_row, self.rows, n);
            }
            Kernel::Portable => {}
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

/// How the few-row product treats activations on the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CpuActivations {
    /// Rounded to 16-bit integers per 32 columns and multiplied with integer dot products, where
    /// the CPU has AVX-512 VNNI; exact f32 elsewhere. Logits move by at most 0.017 (SmolLM2)
    /// and 0.008 (Qwen2) on the parity fixtures (`integer_products_stay_near_exact_f32_on_cpu`).
    #[default]
    Integer16,
    /// Exact f32 products (what the exact-reference parity tests hold the model to). Where the
    /// CPU has VNNI, Q5 weights are stored in 5 bits, which only the integer and portable
    /// kernels read, so this is slower there than on a CPU without it.
    F32,
}

/// The few-row product kernels, fastest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kernel {
    #[cfg(target_arch = "x86_64")]
    IntDot,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    Portable,
}

impl Kernel {
    fn best(activations: CpuActivations, bits: u32, group: usize, n: usize) -> Kernel {
        #[cfg(target_arch = "x86_64")]
        {
            static AVX2: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
            if activations == CpuActivations::Integer16 && integer_kernel_available() {
                return Kernel::IntDot;
            }
            if super::host_avx2::supports(bits, group, n) && *AVX2.get_or_init(super::host_avx2::available) {
                return Kernel::Avx2;
            }
        }
        let _ = (activations, bits, group, n);
        Kernel::Portable
    }
}

/// Whether this CPU runs the integer-dot kernel (AVX-512 VNNI).
fn integer_kernel_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static VNNI: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *VNNI.get_or_init(super::host_vnni::available)
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
            // Every f32 kernel this CPU runs, at batch sizes the fused path takes (1, 3 and its
            // largest), against the product of the expanded matrix.
            for (n, kernel) in available_kernels().into_iter().filter(|&k| k != Kernel::IntDot).flat_map(|k| [1, 3, FUSED_MAX_ROWS].map(|n| (n, k))) {
                if kernel == Kernel::Avx2 && !super::super::host_avx2::supports(host.bits, host.group, n) {
                    continue;
                }
                let x: Vec<f32> = (0..n * cols).map(|_| rng.next_f64() as f32 - 0.5).collect();
                let y = host.matmul_t_with(&x, n, kernel);
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

    fn available_kernels() -> Vec<Kernel> {
        let mut kernels = vec![Kernel::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if super::super::host_avx2::available() {
                kernels.push(Kernel::Avx2);
            }
            if super::super::host_vnni::available() {
                kernels.push(Kernel::IntDot);
            }
        }
        kernels
    }

    /// The integer-dot kernel computes exactly `Σ_g scale·xscale·(codes·values) + offset·Σx` of
    /// the rounded activations (checked in f64 to 1e-4), whose distance from the exact product is
    /// bounded by half a rounding step per column: `Σ_c |w_c|·xscale/2`.
    #[test]
    fn integer_product_equals_its_definition() {
        if !available_kernels().contains(&Kernel::IntDot) {
            eprintln!("skipped: this CPU has no AVX-512 VNNI");
            return;
        }
        for ty in [TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0, TensorType::Q8_0, TensorType::Q4K, TensorType::Q5K, TensorType::Q6K] {
            let (rows, cols) = (70, 512);
            let decoded = decode_blocks(ty, &random_blocks(ty, rows * cols / ty.block_elements() as usize, 4));
            let host = HostQuant::new(&decoded, code_bits(ty), rows, cols);
            let w = decoded.to_f32();
            let mut rng = crate::generate::Rng::new(11, 0);
            // Few-row kernel: 1..=9 rows cover every register-count specialisation and a second
            // pass; 16 is its largest batch. Tile kernel: 17..=22 rows end on every pass size, and
            // 70 weight rows end in a partial tile.
            for n in (1..=9).chain([FUSED_MAX_ROWS]).chain(17..=22) {
                let mut x: Vec<f32> = (0..n * cols).map(|_| (rng.next_f64() as f32 - 0.5) * 4.0).collect();
                x[cols / 2] = 50.0; // an outlier, as real activations have
                let y = if n <= FUSED_MAX_ROWS { host.matmul_t_with(&x, n, Kernel::IntDot) } else { host.tiled_matmul_t(&x, n) };
                let q = I16Rows::quantize(&x, cols, decoded.group);
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
        for ty in [TensorType::Q4K, TensorType::Q6K] {
            let decoded = decode_blocks(ty, &tests::random_blocks(ty, rows * cols / ty.block_elements() as usize, 1));
            let host = HostQuant::new(&decoded, code_bits(ty), rows, cols);
            for n in [1, 8, 16, 64, 512] {
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
