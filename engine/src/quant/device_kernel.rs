//! Quantized products on a CubeCL device (wgpu natively, WebGPU in the browser), as two kernels:
//! - a few-row product `x · Wᵀ` (decode) that reads the packed codes and dequantizes them in
//!   registers, so the weight is never written out as f32;
//! - an expansion of a block of rows to f32 in one pass (prefill, scoring, embedding rows), which
//!   replaces a chain of generic shift/mask/convert/scale kernels.
//!
//! Layout (see `QuantTensor`): codes `[rows, words]` as 32-bit words, word `w` holding columns
//! `w, w + words, …` at `bits` bits each; scales and offsets `[rows, cols / group]`.

use burn::backend::{
    Backend, backend_extension,
    tensor::{FloatTensor, IntTensor},
};
use burn::tensor::{DType, Int, Shape, Tensor};
// The `#[cube]` macro names the crate `cubecl`.
use burn_cubecl::cubecl;
use cubecl::{calculate_cube_count_elemwise, prelude::*};
use burn_cubecl::{CubeBackend, kernel::into_contiguous, ops::numeric::empty_device_dtype, tensor::CubeTensor};

/// Threads that share one output row (they split its words, then sum their partial dots).
const LANES: u32 = 32;
/// Output rows per cube: LANES × ROWS_PER_CUBE = 256 threads, WebGPU's default maximum.
const ROWS_PER_CUBE: u32 = 8;
/// Cubes along x before the grid wraps to y (WebGPU allows 65535 per dimension; a vocabulary
/// head of 150k rows needs 19k cubes). Kept low so that real heads and the tests take the wrap.
const MAX_CUBES_X: u32 = 4096;

#[backend_extension(Cube: cfg(feature = "wgpu"))]
pub trait QuantOps: Backend {
    /// `x · Wᵀ` for `x: [n, cols]` with n small → `[n, rows]`.
    fn quant_matmul_t(
        x: FloatTensor<Self>,
        codes: IntTensor<Self>,
        scales: FloatTensor<Self>,
        offsets: FloatTensor<Self>,
        bits: u32,
        group: u32,
    ) -> FloatTensor<Self>;

    /// `W` as f32 `[rows, cols]`.
    fn quant_expand(codes: IntTensor<Self>, scales: FloatTensor<Self>, offsets: FloatTensor<Self>, bits: u32, group: u32) -> FloatTensor<Self>;
}

#[cube(launch_unchecked)]
fn quant_matmul_t_kernel(
    x: &[f32],
    codes: &[u32],
    scales: &[f32],
    offsets: &[f32],
    out: &mut [f32],
    rows: usize,
    cols: usize,
    group: usize,
    #[comptime] n: usize,
    #[comptime] bits: u32,
) {
    let per_word = comptime!((32 / bits) as usize);
    let mask = comptime!(((1u64 << bits) - 1) as u32);
    let lanes = comptime!(LANES as usize);
    let words = cols / per_word;
    let groups = cols / group;
    let lane = UNIT_POS_X as usize;
    let local_row = UNIT_POS_Y as usize;
    let cube = (CUBE_POS_Y * CUBE_COUNT_X + CUBE_POS_X) as usize;
    let row = cube * comptime!(ROWS_PER_CUBE as usize) + local_row;

    let mut acc = Array::<f32>::new(n);
    #[unroll]
    for j in 0..n {
        acc[j] = 0.0;
    }
    // Rows past the end still take part in the barriers below, so they only skip the work.
    let row_words = if row < rows { words } else { 0usize };
    for w in range_stepped(lane, row_words, lanes) {
        let word = codes[row * words + w];
        #[unroll]
        for s in 0..per_word {
            let c = s * words + w;
            let g = row * groups + c / group;
            let code = (word >> comptime!(s as u32 * bits)) & mask;
            let weight = f32::cast_from(code) * scales[g] + offsets[g];
            #[unroll]
            for j in 0..n {
                acc[j] += weight * x[j * cols + c];
            }
        }
    }

    let mut partial = Shared::<[f32]>::new_slice(comptime!((LANES * ROWS_PER_CUBE) as usize));
    let base = local_row * lanes;
    #[unroll]
    for j in 0..n {
        partial[base + lane] = acc[j];
        sync_cube();
        #[unroll]
        for level in 1..6 {
            let stride = comptime!(LANES as usize >> level);
            if lane < stride {
                partial[base + lane] += partial[base + lane + stride];
            }
            sync_cube();
        }
        if lane == 0 && row < rows {
            out[j * rows + row] = partial[base];
        }
        sync_cube();
    }
}

#[cube(launch_unchecked)]
fn quant_expand_kernel(codes: &[u32], scales: &[f32], offsets: &[f32], out: &mut [f32], rows: usize, cols: usize, group: usize, #[comptime] bits: u32) {
    let per_word = comptime!((32 / bits) as usize);
    let mask = comptime!(((1u64 << bits) - 1) as u32);
    let words = cols / per_word;
    let groups = cols / group;
    let index = ABSOLUTE_POS;
    if index >= rows * words {
        terminate!();
    }
    let row = index / words;
    let w = index % words;
    let word = codes[index];
    #[unroll]
    for s in 0..per_word {
        let c = s * words + w;
        let g = row * groups + c / group;
        let code = (word >> comptime!(s as u32 * bits)) & mask;
        out[row * cols + c] = f32::cast_from(code) * scales[g] + offsets[g];
    }
}

fn dims2(tensor: &CubeTensor) -> [usize; 2] {
    let shape = tensor.meta.shape();
    [shape[0], shape[1]]
}

/// Codes are stored as the device's 32-bit integers; the kernels read their bits as `u32`.
fn check_operands(codes: &CubeTensor, scales: &CubeTensor, offsets: &CubeTensor) {
    assert_eq!(codes.dtype.size(), 4, "quantized codes must be 32-bit words, not {:?}", codes.dtype);
    assert!(scales.dtype == DType::F32 && offsets.dtype == DType::F32, "scales and offsets must be f32");
}

impl QuantOps for CubeBackend {
    fn quant_matmul_t(x: CubeTensor, codes: CubeTensor, scales: CubeTensor, offsets: CubeTensor, bits: u32, group: u32) -> CubeTensor {
        check_operands(&codes, &scales, &offsets);
        assert_eq!(x.dtype, DType::F32, "the fused product takes f32 activations");
        let (x, codes, scales, offsets) = (into_contiguous(x), into_contiguous(codes), into_contiguous(scales), into_contiguous(offsets));
        let [n, cols] = dims2(&x);
        let [rows, _] = dims2(&codes);
        let client = x.client.clone();
        let out = empty_device_dtype(client.clone(), x.device.clone(), Shape::new([n, rows]), DType::F32);
        let cubes = (rows as u32).div_ceil(ROWS_PER_CUBE);
        let (cubes_x, cubes_y) = if cubes <= MAX_CUBES_X { (cubes, 1) } else { (MAX_CUBES_X, cubes.div_ceil(MAX_CUBES_X)) };
        unsafe {
            quant_matmul_t_kernel::launch_unchecked(
                &client,
                CubeCount::Static(cubes_x, cubes_y, 1),
                CubeDim::new_2d(LANES, ROWS_PER_CUBE),
                x.into_buffer_arg(),
                codes.into_buffer_arg(),
                scales.into_buffer_arg(),
                offsets.into_buffer_arg(),
                out.clone().into_buffer_arg(),
                rows,
                cols,
                group as usize,
                n,
                bits,
            )
        }
        out
    }

    fn quant_expand(codes: CubeTensor, scales: CubeTensor, offsets: CubeTensor, bits: u32, group: u32) -> CubeTensor {
        check_operands(&codes, &scales, &offsets);
        let (codes, scales, offsets) = (into_contiguous(codes), into_contiguous(scales), into_contiguous(offsets));
        let [rows, words] = dims2(&codes);
        let cols = words * (32 / bits) as usize;
        let client = codes.client.clone();
        let out = empty_device_dtype(client.clone(), codes.device.clone(), Shape::new([rows, cols]), DType::F32);
        let threads = rows * words;
        let cube_dim = CubeDim::new(&client, threads);
        let cube_count = calculate_cube_count_elemwise(&client, threads, cube_dim);
        unsafe {
            quant_expand_kernel::launch_unchecked(
                &client,
                cube_count,
                cube_dim,
                codes.into_buffer_arg(),
                scales.into_buffer_arg(),
                offsets.into_buffer_arg(),
                out.clone().into_buffer_arg(),
                rows,
                cols,
                group as usize,
                bits,
            )
        }
        out
    }
}

/// `x · Wᵀ` through the fused kernel; `x: [n, cols]` f32 on a CubeCL device.
pub fn matmul_t(x: Tensor<2>, codes: &Tensor<2, Int>, scales: &Tensor<2>, offsets: &Tensor<2>, bits: u32, group: usize) -> Tensor<2> {
    Tensor::from_dispatch(<burn::backend::Dispatch as QuantOps>::quant_matmul_t(
        x.into_dispatch(),
        codes.clone().into_dispatch(),
        scales.clone().into_dispatch(),
        offsets.clone().into_dispatch(),
        bits,
        group as u32,
    ))
}

/// The quantized rows as f32 `[rows, cols]`, in one kernel.
pub fn expand(codes: Tensor<2, Int>, scales: Tensor<2>, offsets: Tensor<2>, bits: u32, group: usize) -> Tensor<2> {
    Tensor::from_dispatch(<burn::backend::Dispatch as QuantOps>::quant_expand(
        codes.into_dispatch(),
        scales.into_dispatch(),
        offsets.into_dispatch(),
        bits,
        group as u32,
    ))
}
