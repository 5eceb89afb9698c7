//! A weight matrix that stays quantized on the device: packed integer codes plus per-group scale
//! and offset. It is expanded to f32 only transiently, a bounded number of rows at a time,
//! right before its matmul.

use std::sync::Arc;

use burn::tensor::{Device, Int, Tensor, TensorData};

use super::blocks::{Decoded, code_bits};
use super::host::{CpuActivations, FUSED_MAX_ROWS, HostQuant};
use crate::gguf::TensorType;

/// Upper bound on elements expanded to f32 at once (64 MiB), which keeps the transient memory of
/// a 150k-row vocabulary head small and inside WebGPU's buffer limits.
const EXPAND_ELEMENTS: usize = 1 << 24;

/// Upper bound on one stored block's code bytes: WebGPU's default storage-binding limit is
/// 128 MiB, and a 150k-row embedding in 8-bit containers would exceed it in one buffer.
const BLOCK_BYTES: usize = 64 << 20;

/// Rows `[start, start + rows)` of a quantized matrix.
#[derive(Debug, Clone)]
struct RowBlock {
    start: usize,
    rows: usize,
    /// `[rows, cols / per_word]`; word `w` of a row holds columns `w·per_word …` in its low bits
    /// first (per_word = 32 / bits), so a group of columns spans whole words.
    codes: Tensor<2, Int>,
    /// `[rows, cols / group]`
    scales: Tensor<2>,
    offsets: Tensor<2>,
}

#[derive(Debug, Clone)]
pub struct QuantTensor {
    blocks: Vec<RowBlock>,
    rows: usize,
    cols: usize,
    bits: u32,
    group: usize,
}

impl QuantTensor {
    /// `decoded` holds `rows × cols` elements in row-major order (`cols` contiguous).
    pub fn new(ty: TensorType, decoded: &Decoded, rows: usize, cols: usize, device: &Device) -> Self {
        let bits = code_bits(ty);
        let per_word = (32 / bits) as usize;
        let words = cols / per_word;
        let groups = cols / decoded.group;
        let block_rows = (BLOCK_BYTES / (words * 4)).max(1);
        let blocks = (0..rows)
            .step_by(block_rows)
            .map(|start| {
                let n = block_rows.min(rows - start);
                let mut packed = vec![0i32; n * words];
                for r in 0..n {
                    let row = &decoded.codes[(start + r) * cols..(start + r + 1) * cols];
                    for (c, &code) in row.iter().enumerate() {
                        let (word, slot) = (c / per_word, c % per_word);
                        packed[r * words + word] |= ((code as u32) << (slot as u32 * bits)) as i32;
                    }
                }
                let params = |v: &[f32]| Tensor::from_data(TensorData::new(v[start * groups..(start + n) * groups].to_vec(), [n, groups]), device);
                RowBlock {
                    start,
                    rows: n,
                    codes: Tensor::from_data(TensorData::new(packed, [n, words]), device),
                    scales: params(&decoded.scales),
                    offsets: params(&decoded.offsets),
                }
            })
            .collect();
        Self { blocks, rows, cols, bits, group: decoded.group }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Bits per code and columns per scale/offset group.
    pub(crate) fn format(&self) -> (u32, usize) {
        (self.bits, self.group)
    }

    /// Each stored block of rows: its first row, its rows, and its codes, scales and offsets.
    pub(crate) fn row_blocks(&self) -> impl Iterator<Item = (usize, usize, &Tensor<2, Int>, &Tensor<2>, &Tensor<2>)> {
        self.blocks.iter().map(|b| (b.start, b.rows, &b.codes, &b.scales, &b.offsets))
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Device bytes held (codes as 32-bit words, scales and offsets as f32).
    pub fn device_bytes(&self) -> usize {
        Self::bytes_for(self.bits, self.group, self.rows, self.cols)
    }

    /// Device bytes a `rows × cols` matrix takes with `bits`-bit codes and `group` columns per
    /// scale/offset pair.
    pub fn bytes_for(bits: u32, group: usize, rows: usize, cols: usize) -> usize {
        rows * (cols * bits as usize / 8 + cols / group * 8)
    }

    fn expand(&self, codes: Tensor<2, Int>, scales: Tensor<2>, offsets: Tensor<2>) -> Tensor<2> {
        #[cfg(feature = "wgpu")]
        if crate::backend::runs_device_kernels(&codes.device()) {
            return super::device_kernel::expand(codes, scales, offsets, self.bits, self.group);
        }
        self.expand_generic(codes, scales, offsets)
    }

    /// The same expansion in burn's generic tensor operations (any backend, autodiff included).
    fn expand_generic(&self, codes: Tensor<2, Int>, scales: Tensor<2>, offsets: Tensor<2>) -> Tensor<2> {
        let [rows, words] = codes.dims();
        let (bits, group) = (self.bits, self.group);
        let per_word = (32 / bits) as usize;
        let mask = (1i64 << bits) - 1;
        // One broadcast shift unpacks every slot: `[rows, words, 1] >> [1, 1, slots]` is
        // `[rows, words, slots]`, which is already column order (column = word·slots + slot).
        let shifts: Vec<i32> = (0..per_word as i32).map(|slot| slot * bits as i32).collect();
        let shifts: Tensor<3, Int> = Tensor::from_data(TensorData::new(shifts, [1, 1, per_word]), &codes.device());
        let cols = words * per_word;
        let codes = codes.reshape([rows, words, 1]).bitwise_right_shift(shifts).bitwise_and_scalar(mask).float().reshape([rows, cols / group, group]);
        let groups = cols / group;
        let w = codes * scales.reshape([rows, groups, 1]) + offsets.reshape([rows, groups, 1]);
        w.reshape([rows, cols])
    }

    /// Rows `[start, end)` of one block (block-local indices), expanded to f32.
    fn expand_block_rows(&self, block: &RowBlock, start: usize, end: usize) -> Tensor<2> {
        self.expand(
            block.codes.clone().slice([start..end]),
            block.scales.clone().slice([start..end]),
            block.offsets.clone().slice([start..end]),
        )
    }

    /// The rows named by `ids` (an embedding lookup), expanded to f32: `[ids.len(), cols]`.
    pub fn select_rows(&self, ids: &[u32]) -> Tensor<2> {
        let device = self.blocks[0].codes.device();
        let mut parts = Vec::new();
        let mut order = Vec::with_capacity(ids.len());
        for block in &self.blocks {
            let (positions, local): (Vec<usize>, Vec<i32>) = ids
                .iter()
                .enumerate()
                .filter(|&(_, &id)| (block.start..block.start + block.rows).contains(&(id as usize)))
                .map(|(pos, &id)| (pos, (id as usize - block.start) as i32))
                .unzip();
            if local.is_empty() {
                continue;
            }
            let n = local.len();
            let local: Tensor<1, Int> = Tensor::from_data(TensorData::new(local, [n]), &device);
            parts.push(self.expand(
                block.codes.clone().select(0, local.clone()),
                block.scales.clone().select(0, local.clone()),
                block.offsets.clone().select(0, local),
            ));
            order.extend(positions);
        }
        let gathered = Tensor::cat(parts, 0);
        if order.windows(2).all(|w| w[0] < w[1]) {
            return gathered;
        }
        // Row i of `gathered` belongs at position order[i]; invert that permutation.
        let mut source = vec![0i32; order.len()];
        for (i, &pos) in order.iter().enumerate() {
            source[pos] = i as i32;
        }
        let n = source.len();
        gathered.select(0, Tensor::from_data(TensorData::new(source, [n]), &device))
    }

    /// The whole matrix expanded to f32: `[rows, cols]`.
    pub fn expand_all(&self) -> Tensor<2> {
        let parts: Vec<Tensor<2>> = self.blocks.iter().map(|b| self.expand_block_rows(b, 0, b.rows)).collect();
        Tensor::cat(parts, 0)
    }

    /// `x · Wᵀ` for `x: [n, cols]` → `[n, rows]`: on a device, through its quantized kernels
    /// (the tiled one for two rows or more on CPU-emulated GPUs; the few-row kernel for one row,
    /// and on GPUs for up to `FUSED_MAX_ROWS`); elsewhere,
    /// or for many rows on a GPU, expanding a bounded block of rows at a time.
    pub fn matmul_t(&self, x: Tensor<2>) -> Tensor<2> {
        #[cfg(feature = "wgpu")]
        if crate::backend::runs_device_kernels(&x.device()) {
            // One row stays on the few-row kernel: on SwiftShader it decoded 2.09 tokens/s
            // where the tiled kernel gave 1.23 (BENCHMARKS.md, the tiled product).
            if x.dims()[0] > 1
                && let Some(parts) = self.blocks.iter().map(|b| super::device_kernel::matmul_tile(x.clone(), &b.codes, &b.scales, &b.offsets, self.bits, self.group)).collect() {
                return columns(parts);
            }
            if x.dims()[0] <= FUSED_MAX_ROWS {
                let parts = self.blocks.iter().map(|b| super::device_kernel::matmul_t(x.clone(), &b.codes, &b.scales, &b.offsets, self.bits, self.group));
                return columns(parts.collect());
            }
        }
        let chunk = (EXPAND_ELEMENTS / self.cols).max(1);
        let mut parts = Vec::new();
        for block in &self.blocks {
            for start in (0..block.rows).step_by(chunk) {
                let end = (start + chunk).min(block.rows);
                parts.push(x.clone().matmul(self.expand_block_rows(block, start, end).transpose()));
            }
        }
        columns(parts)
    }
}

/// The parts side by side; one part as it is (`cat` of one part still launches a copy).
fn columns(mut parts: Vec<Tensor<2>>) -> Tensor<2> {
    if parts.len() == 1 { parts.pop().unwrap() } else { Tensor::cat(parts, 1) }
}

/// A linear layer's weight `[out, in]`: quantized on the device, quantized in host memory (CPU
/// backend), or dense f32 for float files.
#[derive(Debug, Clone)]
pub enum Weight {
    Dense(Tensor<2>),
    Quant(QuantTensor),
    Host { weight: Arc<HostQuant>, device: Device, activations: CpuActivations },
}

fn host_values<const D: usize>(x: Tensor<D>) -> Vec<f32> {
    // Only built for the CPU backend, where this read is a plain memory copy.
    x.into_data().convert::<f32>().try_into_vec().expect("f32 data")
}

impl Weight {
    fn host_matmul_t(host: &HostQuant, device: &Device, activations: CpuActivations, x: Tensor<2>) -> Tensor<2> {
        let [n, cols] = x.dims();
        // The host kernels read `x` to the host, which would cut an autodiff graph; training
        // takes the expanding path, where the frozen weight is a constant of the graph.
        if (n <= FUSED_MAX_ROWS || host.multiplies_many_rows()) && !x.is_autodiff() {
            let y = host.matmul_t(&host_values(x), n, activations);
            return Tensor::from_data(TensorData::new(y, [n, host.rows()]), device);
        }
        let chunk = (EXPAND_ELEMENTS / cols).max(1);
        let parts: Vec<Tensor<2>> = (0..host.rows())
            .step_by(chunk)
            .map(|start| {
                let end = (start + chunk).min(host.rows());
                let w = Tensor::from_data(TensorData::new(host.expand_rows(start, end), [end - start, cols]), device);
                x.clone().matmul(w.transpose())
            })
            .collect();
        Tensor::cat(parts, 1)
    }
}

impl Weight {
    pub fn rows(&self) -> usize {
        match self {
            Weight::Dense(w) => w.dims()[0],
            Weight::Quant(q) => q.rows(),
            Weight::Host { weight, .. } => weight.rows(),
        }
    }

    pub fn device_bytes(&self) -> usize {
        match self {
            Weight::Dense(w) => w.shape().num_elements() * 4,
            Weight::Quant(q) => q.device_bytes(),
            Weight::Host { weight, .. } => weight.bytes(),
        }
    }

    /// `x · Wᵀ` over the last dimension of `x: [b, s, in]` → `[b, s, out]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [b, s, d] = x.dims();
        let flat = x.reshape([b * s, d]);
        let y = match self {
            Weight::Dense(w) => flat.matmul(w.clone().transpose()),
            Weight::Quant(q) => q.matmul_t(flat),
            Weight::Host { weight, device, activations } => Self::host_matmul_t(weight, device, *activations, flat),
        };
        let out = y.dims()[1];
        y.reshape([b, s, out])
    }

    /// The weight as a dense f32 matrix `[out, in]` on its device.
    pub fn to_dense(&self) -> Tensor<2> {
        match self {
            Weight::Dense(w) => w.clone(),
            Weight::Quant(q) => q.expand_all(),
            Weight::Host { weight, device, .. } => Tensor::from_data(TensorData::new(weight.expand_rows(0, weight.rows()), [weight.rows(), weight.cols()]), device),
        }
    }

    /// Embedding rows for token ids (checked against the vocabulary by the caller).
    pub fn embed(&self, ids: &[u32], device: &Device) -> Tensor<2> {
        match self {
            Weight::Dense(w) => {
                let ids: Vec<i32> = ids.iter().map(|&i| i as i32).collect();
                let n = ids.len();
                w.clone().select(0, Tensor::from_data(TensorData::new(ids, [n]), device))
            }
            Weight::Quant(q) => q.select_rows(ids),
            Weight::Host { weight, device, .. } => {
                let rows: Vec<usize> = ids.iter().map(|&i| i as usize).collect();
                Tensor::from_data(TensorData::new(weight.gather_rows(&rows), [rows.len(), weight.cols()]), device)
            }
        }
    }
}

#[cfg(all(test, feature = "wgpu"))]
mod tests {
    use super::*;
    use crate::gguf::TensorType;
    use crate::quant::{decode_blocks, host::tests::random_blocks};

    fn values(x: Tensor<2>) -> Vec<f32> {
        x.into_data().convert::<f32>().try_into_vec().unwrap()
    }

    fn assert_close(got: &[f32], want: &[f32], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() <= 1e-4 * (1.0 + w.abs()), "{what} [{i}]: {g} vs {w}");
        }
    }

    /// Product speed on the test device, for choosing `PRODUCT_TILE`: `M` rows of `x` (64 by
    /// default) by two Q4_1 matrices of SmolLM2's MLP shapes; `COTNPOT_PRODUCT_TILE=off` or `RxT`
    /// picks the kernel. `cargo test -p cotnpot-engine --lib -- --ignored prefill_product_speed --nocapture`
    #[test]
    #[ignore]
    fn prefill_product_speed() {
        let device = crate::backend::test_wgpu();
        let mut rng = crate::generate::Rng::new(9, 0);
        let ty = TensorType::Q4_1;
        let m: usize = std::env::var("M").ok().and_then(|v| v.parse().ok()).unwrap_or(64);
        for (rows, cols) in [(1536, 576), (576, 1536)] {
            let decoded = decode_blocks(ty, &random_blocks(ty, rows * cols / ty.block_elements() as usize, 2));
            let w = decoded.to_f32();
            let q = QuantTensor::new(ty, &decoded, rows, cols, &device);
            let x: Vec<f32> = (0..m * cols).map(|_| rng.next_f64() as f32 - 0.5).collect();
            let xt = Tensor::<2>::from_data(TensorData::new(x.clone(), [m, cols]), &device);
            let _ = values(q.matmul_t(xt.clone()));
            let start = std::time::Instant::now();
            let reps = 3;
            let mut y = Vec::new();
            for _ in 0..reps {
                y = values(q.matmul_t(xt.clone()));
            }
            let ms = start.elapsed().as_secs_f64() * 1000.0 / reps as f64;
            let check = [(0, 0), (m - 1, rows - 1), (m / 2, rows / 3)];
            for (b, r) in check {
                let want: f32 = (0..cols).map(|c| x[b * cols + c] * w[r * cols + c]).sum();
                assert!((y[b * rows + r] - want).abs() <= 1e-3 * (1.0 + want.abs()), "{b},{r}: {} vs {want}", y[b * rows + r]);
            }
            eprintln!("{:?} m={m} {rows}x{cols}: {ms:.1} ms ({:.2} GMAC/s)", std::env::var("COTNPOT_PRODUCT_TILE").ok(), (m * rows * cols) as f64 / ms / 1e6);
        }
    }

    /// The device kernels (fused product, one-pass expansion) against the host-decoded weights, on
    /// every block format, at the batch sizes the fused product takes and one past them, and on
    /// a tall matrix (70 000 rows). The generic expansion (autodiff) too.
    #[test]
    fn device_kernels_equal_the_decoded_weights() {
        let device = crate::backend::test_wgpu();
        let formats = [TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q8_0, TensorType::Q4K, TensorType::Q5K, TensorType::Q6K];
        let cases = formats.iter().map(|&ty| (ty, 70, 512)).chain([(TensorType::Q8_0, 70_000, 64)]);
        let mut rng = crate::generate::Rng::new(5, 0);
        for (ty, rows, cols) in cases {
            let decoded = decode_blocks(ty, &random_blocks(ty, rows * cols / ty.block_elements() as usize, 2));
            let w = decoded.to_f32();
            let q = QuantTensor::new(ty, &decoded, rows, cols, &device);
            assert_close(&values(q.expand_block_rows(&q.blocks[0], 0, rows)), &w, &format!("{ty:?} expanded"));
            assert_close(&values(Weight::Quant(q.clone()).to_dense()), &w, &format!("{ty:?} as a dense weight"));
            let block = &q.blocks[0];
            let generic = q.expand_generic(block.codes.clone(), block.scales.clone(), block.offsets.clone());
            assert_close(&values(generic), &w, &format!("{ty:?} expanded by generic operations"));
            let ids = [rows as u32 - 1, 0, 5, 5, 33];
            let want: Vec<f32> = ids.iter().flat_map(|&r| w[r as usize * cols..(r as usize + 1) * cols].to_vec()).collect();
            assert_close(&values(q.select_rows(&ids)), &want, &format!("{ty:?} rows"));
            for n in [1, 3, FUSED_MAX_ROWS, FUSED_MAX_ROWS + 1, 40] {
                let x: Vec<f32> = (0..n * cols).map(|_| rng.next_f64() as f32 - 0.5).collect();
                let xt = Tensor::from_data(TensorData::new(x.clone(), [n, cols]), &device);
                let want: Vec<f32> = (0..n).flat_map(|b| (0..rows).map(move |r| (b, r))).map(|(b, r)| (0..cols).map(|c| x[b * cols + c] * w[r * cols + c]).sum()).collect();
                assert_close(&values(q.matmul_t(xt.clone())), &want, &format!("{ty:?} n={n} product"));
                // Whichever kernel the device chose above, the few-row kernel too.
                if n <= FUSED_MAX_ROWS {
                    let fused = columns(q.blocks.iter().map(|b| super::super::device_kernel::matmul_t(xt.clone(), &b.codes, &b.scales, &b.offsets, q.bits, q.group)).collect());
                    assert_close(&values(fused), &want, &format!("{ty:?} n={n} few-row product"));
                }
            }
        }
    }
}

