//! Quantized products on a CubeCL device (wgpu natively, WebGPU in the browser), as two kernels:
//! - a few-row product `x · Wᵀ` (decode) that reads the packed codes and dequantizes them in
//!   registers, so the weight is never written out as f32;
//! - an expansion of a block of rows to f32 in one pass (prefill, scoring, embedding rows), which
//!   replaces a chain of generic shift/mask/convert/scale kernels.
//!
//! Layout (see `QuantTensor`): codes `[rows, words]` as 32-bit words, word `w` holding columns
//! `w·per_word … w·per_word + per_word − 1` (per_word = 32 / bits), lowest bits first; scales
//! and offsets `[rows, cols / group]`, where a group spans whole words.

use burn::backend::{
    Backend, backend_extension,
    tensor::{FloatTensor, IntTensor},
};
use burn::tensor::{DType, Int, Shape, Tensor};
// The `#[cube]` macro names the crate `cubecl`.
use burn_cubecl::cubecl;
use cubecl::{calculate_cube_count_elemwise, prelude::*};
use burn_cubecl::{CubeBackend, kernel::into_contiguous, ops::numeric::empty_device_dtype, tensor::CubeTensor};

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

    /// `x · Wᵀ` for `x: [n, cols]` → `[n, rows]`, each invocation a block of the output held in
    /// registers; `None` on devices with plane operations (GPUs), which take the plane kernel
    /// for few rows and burn's matmul on expanded weights for many.
    #[allow(clippy::too_many_arguments)]
    fn quant_matmul_tile(
        x: FloatTensor<Self>,
        codes: IntTensor<Self>,
        scales: FloatTensor<Self>,
        offsets: FloatTensor<Self>,
        bits: u32,
        group: u32,
    ) -> Option<FloatTensor<Self>>;

    /// `W` as f32 `[rows, cols]`.
    fn quant_expand(codes: IntTensor<Self>, scales: FloatTensor<Self>, offsets: FloatTensor<Self>, bits: u32, group: u32) -> FloatTensor<Self>;
}

/// One invocation per output row, walking it group by group: the scale and offset are read
/// once per group and every code is dequantized once for all `n` rows of `x`. No shared memory
/// and no barriers: on CPU-emulated GPUs (SwiftShader, lavapipe) barriers cost more than the
/// lanes a cooperative row would gain (measured on lavapipe: the product over a 49152×576 head
/// took 57 ms with 32 lanes per row and a shared-memory sum, 26 ms with one invocation per row).
#[cube(launch_unchecked)]
fn quant_matmul_t_kernel(
    x: &[f32],
    codes: &[u32],
    scales: &[f32],
    offsets: &[f32],
    out: &mut [f32],
    rows: usize,
    cols: usize,
    #[comptime] n: usize,
    #[comptime] bits: u32,
    #[comptime] group: usize,
) {
    let per_word = comptime!((32 / bits) as usize);
    let words_per_group = comptime!(group / per_word);
    let mask = comptime!(((1u64 << bits) - 1) as u32);
    let words = cols / per_word;
    let groups = cols / group;
    let row = ABSOLUTE_POS;
    if row >= rows {
        terminate!();
    }
    let mut acc = Array::<f32>::new(n);
    #[unroll]
    for j in 0..n {
        acc[j] = 0.0;
    }
    for g in 0..groups {
        let scale = scales[row * groups + g];
        let offset = offsets[row * groups + g];
        #[unroll]
        for k in 0..words_per_group {
            let w = g * words_per_group + k;
            let word = codes[row * words + w];
            #[unroll]
            for s in 0..per_word {
                let c = w * per_word + s;
                let weight = f32::cast_from((word >> comptime!(s as u32 * bits)) & mask) * scale + offset;
                #[unroll]
                for j in 0..n {
                    acc[j] += weight * x[j * cols + c];
                }
            }
        }
    }
    #[unroll]
    for j in 0..n {
        out[j * rows + row] = acc[j];
    }
}

/// One plane (warp/subgroup) per output row: its lanes read consecutive words of the row, so
/// a GPU's memory reads coalesce, and `plane_sum` adds their partial dot products without
/// shared memory. For real GPUs, whose planes cubecl exposes; the per-row kernel above
/// strides each lane through its own row, which a GPU cannot coalesce.
#[cube(launch_unchecked)]
fn quant_matmul_t_plane_kernel(
    x: &[f32],
    codes: &[u32],
    scales: &[f32],
    offsets: &[f32],
    out: &mut [f32],
    rows: usize,
    cols: usize,
    #[comptime] n: usize,
    #[comptime] bits: u32,
    #[comptime] group: usize,
) {
    let per_word = comptime!((32 / bits) as usize);
    let words_per_group = comptime!(group / per_word);
    let mask = comptime!(((1u64 << bits) - 1) as u32);
    let words = cols / per_word;
    let groups = cols / group;
    let row = CUBE_POS * CUBE_DIM_Y as usize + UNIT_POS_Y as usize;
    // The whole plane (one y) leaves together, so `plane_sum` below sees every lane.
    if row >= rows {
        terminate!();
    }
    let lanes = CUBE_DIM_X as usize;
    let mut acc = Array::<f32>::new(n);
    #[unroll]
    for j in 0..n {
        acc[j] = 0.0;
    }
    for w in range_stepped(UNIT_POS_X as usize, words, lanes) {
        let g = row * groups + w / words_per_group;
        let (scale, offset) = (scales[g], offsets[g]);
        let word = codes[row * words + w];
        #[unroll]
        for s in 0..per_word {
            let c = w * per_word + s;
            let weight = f32::cast_from((word >> comptime!(s as u32 * bits)) & mask) * scale + offset;
            #[unroll]
            for j in 0..n {
                acc[j] += weight * x[j * cols + c];
            }
        }
    }
    #[unroll]
    for j in 0..n {
        let total = plane_sum(acc[j]);
        if UNIT_POS_X == 0 {
            out[j * rows + row] = total;
        }
    }
}

/// A `tile_rows × tile_x` block of `x · Wᵀ` per invocation: each weight is decoded once for
/// `tile_x` rows of `x`, and each value of `x` read once for `tile_rows` weights. Neighbouring
/// invocations take neighbouring weight rows of the same rows of `x`, so their reads of `x`
/// are the same addresses. Rows past the end are clamped for reading and not written.
#[cube(launch_unchecked)]
fn quant_matmul_tile_kernel(
    x: &[f32],
    codes: &[u32],
    scales: &[f32],
    offsets: &[f32],
    out: &mut [f32],
    n: usize,
    rows: usize,
    cols: usize,
    #[comptime] tile_rows: usize,
    #[comptime] tile_x: usize,
    #[comptime] bits: u32,
    #[comptime] group: usize,
) {
    let per_word = comptime!((32 / bits) as usize);
    let words_per_group = comptime!(group / per_word);
    let mask = comptime!(((1u64 << bits) - 1) as u32);
    let words = cols / per_word;
    let groups = cols / group;
    let row_blocks = (rows + tile_rows - 1) / tile_rows;
    let index = ABSOLUTE_POS;
    let row0 = (index % row_blocks) * tile_rows;
    let x0 = (index / row_blocks) * tile_x;
    if x0 >= n {
        terminate!();
    }
    let mut row_at = Array::<usize>::new(tile_rows);
    #[unroll]
    for r in 0..tile_rows {
        let mut row = row0 + r;
        if row >= rows {
            row = rows - 1;
        }
        row_at[r] = row;
    }
    let mut x_at = Array::<usize>::new(tile_x);
    #[unroll]
    for t in 0..tile_x {
        let mut xr = x0 + t;
        if xr >= n {
            xr = n - 1;
        }
        x_at[t] = xr * cols;
    }
    let mut acc = Array::<f32>::new(comptime!(tile_rows * tile_x));
    #[unroll]
    for i in 0..comptime!(tile_rows * tile_x) {
        acc[i] = 0.0;
    }
    let mut scale = Array::<f32>::new(tile_rows);
    let mut offset = Array::<f32>::new(tile_rows);
    let mut word = Array::<u32>::new(tile_rows);
    let mut xs = Array::<f32>::new(tile_x);
    for g in 0..groups {
        #[unroll]
        for r in 0..tile_rows {
            scale[r] = scales[row_at[r] * groups + g];
            offset[r] = offsets[row_at[r] * groups + g];
        }
        #[unroll]
        for k in 0..words_per_group {
            let w = g * words_per_group + k;
            #[unroll]
            for r in 0..tile_rows {
                word[r] = codes[row_at[r] * words + w];
            }
            #[unroll]
            for s in 0..per_word {
                let c = w * per_word + s;
                #[unroll]
                for t in 0..tile_x {
                    xs[t] = x[x_at[t] + c];
                }
                #[unroll]
                for r in 0..tile_rows {
                    let weight = f32::cast_from((word[r] >> comptime!(s as u32 * bits)) & mask) * scale[r] + offset[r];
                    #[unroll]
                    for t in 0..tile_x {
                        acc[comptime!(r * tile_x + t)] += weight * xs[t];
                    }
                }
            }
        }
    }
    #[unroll]
    for r in 0..tile_rows {
        #[unroll]
        for t in 0..tile_x {
            if row0 + r < rows && x0 + t < n {
                out[(x0 + t) * rows + row0 + r] = acc[comptime!(r * tile_x + t)];
            }
        }
    }
}

#[cube(launch_unchecked)]
fn quant_expand_kernel(codes: &[u32], scales: &[f32], offsets: &[f32], out: &mut [f32], rows: usize, cols: usize, #[comptime] bits: u32, #[comptime] group: usize) {
    let per_word = comptime!((32 / bits) as usize);
    let words_per_group = comptime!(group / per_word);
    let mask = comptime!(((1u64 << bits) - 1) as u32);
    let words = cols / per_word;
    let groups = cols / group;
    let index = ABSOLUTE_POS;
    if index >= rows * words {
        terminate!();
    }
    let row = index / words;
    let w = index % words;
    let g = row * groups + w / words_per_group;
    let (scale, offset) = (scales[g], offsets[g]);
    let word = codes[index];
    #[unroll]
    for s in 0..per_word {
        out[index * per_word + s] = f32::cast_from((word >> comptime!(s as u32 * bits)) & mask) * scale + offset;
    }
}

fn dims2(tensor: &CubeTensor) -> [usize; 2] {
    let shape = tensor.meta.shape();
    [shape[0], shape[1]]
}

/// Codes are stored as the device's 32-bit integers; the kernels read their bits as `u32`.
fn check_operands(codes: &CubeTensor, scales: &CubeTensor, offsets: &CubeTensor, bits: u32, group: u32) {
    assert!(matches!(bits, 2 | 4 | 8 | 16) && group.is_multiple_of(32 / bits), "{bits}-bit codes in groups of {group} do not fill whole words");
    assert_eq!(codes.dtype.size(), 4, "quantized codes must be 32-bit words, not {:?}", codes.dtype);
    assert!(scales.dtype == DType::F32 && offsets.dtype == DType::F32, "scales and offsets must be f32");
}

/// Rows per cube of the plane kernel: 4 planes of 32 make the 128-unit cubes GPUs schedule well.
const ROWS_PER_PLANE_CUBE: u32 = 4;

/// The plane width when the device has plane operations and a single plane size (so that one
/// plane is exactly one cube row). cubecl-wgpu offers no plane operations on CPU adapters
/// (lavapipe, SwiftShader), which take the per-row and tiled kernels. `COTNPOT_PLANE_KERNEL=0`
/// forces those anywhere; `=1` forces the plane kernels wherever planes have one size, CPU
/// adapters included (lavapipe runs them correctly, which is how CI tests them), and panics
/// where they do not.
pub(crate) fn fixed_plane_size(client: &cubecl::client::Client) -> Option<u32> {
    // Read once: this runs at every launch of the decode step.
    static WANTED: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let wanted = WANTED.get_or_init(|| std::env::var("COTNPOT_PLANE_KERNEL").ok());
    if wanted.as_deref() == Some("0") {
        return None;
    }
    let hardware = &client.properties().hardware;
    let fixed = (hardware.plane_size_min == hardware.plane_size_max && hardware.plane_size_min > 1).then_some(hardware.plane_size_min);
    if wanted.as_deref() == Some("1") {
        assert!(fixed.is_some(), "COTNPOT_PLANE_KERNEL=1, but this device's planes have no one size ({}..={})", hardware.plane_size_min, hardware.plane_size_max);
        return fixed;
    }
    fixed.filter(|_| client.features().plane.contains(cubecl::ir::features::Plane::Ops))
}

/// A product's operands, checked and contiguous, with its sizes and output `[n, rows]`.
struct Product {
    x: CubeTensor,
    codes: CubeTensor,
    scales: CubeTensor,
    offsets: CubeTensor,
    n: usize,
    rows: usize,
    cols: usize,
    out: CubeTensor,
}

impl Product {
    fn new(x: CubeTensor, codes: CubeTensor, scales: CubeTensor, offsets: CubeTensor, bits: u32, group: u32) -> Self {
        check_operands(&codes, &scales, &offsets, bits, group);
        assert_eq!(x.dtype, DType::F32, "the quantized products take f32 activations");
        let (x, codes, scales, offsets) = (into_contiguous(x), into_contiguous(codes), into_contiguous(scales), into_contiguous(offsets));
        let [n, cols] = dims2(&x);
        let [rows, _] = dims2(&codes);
        let out = empty_device_dtype(x.client.clone(), x.device.clone(), Shape::new([n, rows]), DType::F32);
        Self { x, codes, scales, offsets, n, rows, cols, out }
    }
}

impl QuantOps for CubeBackend {
    fn quant_matmul_t(x: CubeTensor, codes: CubeTensor, scales: CubeTensor, offsets: CubeTensor, bits: u32, group: u32) -> CubeTensor {
        let Product { x, codes, scales, offsets, n, rows, cols, out } = Product::new(x, codes, scales, offsets, bits, group);
        let client = x.client.clone();
        if let Some(lanes) = fixed_plane_size(&client) {
            let cube_dim = CubeDim::new_2d(lanes, ROWS_PER_PLANE_CUBE);
            let cube_count = calculate_cube_count_elemwise(&client, rows * lanes as usize, cube_dim);
            unsafe {
                quant_matmul_t_plane_kernel::launch_unchecked(
                    &client,
                    cube_count,
                    cube_dim,
                    x.into_buffer_arg(),
                    codes.into_buffer_arg(),
                    scales.into_buffer_arg(),
                    offsets.into_buffer_arg(),
                    out.clone().into_buffer_arg(),
                    rows,
                    cols,
                    n,
                    bits,
                    group as usize,
                )
            }
            return out;
        }
        let cube_dim = CubeDim::new(&client, rows);
        let cube_count = calculate_cube_count_elemwise(&client, rows, cube_dim);
        unsafe {
            quant_matmul_t_kernel::launch_unchecked(
                &client,
                cube_count,
                cube_dim,
                x.into_buffer_arg(),
                codes.into_buffer_arg(),
                scales.into_buffer_arg(),
                offsets.into_buffer_arg(),
                out.clone().into_buffer_arg(),
                rows,
                cols,
                n,
                bits,
                group as usize,
            )
        }
        out
    }

    fn quant_matmul_tile(x: CubeTensor, codes: CubeTensor, scales: CubeTensor, offsets: CubeTensor, bits: u32, group: u32) -> Option<CubeTensor> {
        let (tile_rows, most_x) = product_tile(&x.client)?;
        let Product { x, codes, scales, offsets, n, rows, cols, out } = Product::new(x, codes, scales, offsets, bits, group);
        let client = x.client.clone();
        let tile_x = most_x.min(n);
        let threads = rows.div_ceil(tile_rows) * n.div_ceil(tile_x);
        let cube_dim = CubeDim::new(&client, threads);
        let cube_count = calculate_cube_count_elemwise(&client, threads, cube_dim);
        unsafe {
            quant_matmul_tile_kernel::launch_unchecked(
                &client,
                cube_count,
                cube_dim,
                x.into_buffer_arg(),
                codes.into_buffer_arg(),
                scales.into_buffer_arg(),
                offsets.into_buffer_arg(),
                out.clone().into_buffer_arg(),
                n,
                rows,
                cols,
                tile_rows,
                tile_x,
                bits,
                group as usize,
            )
        }
        Some(out)
    }

    fn quant_expand(codes: CubeTensor, scales: CubeTensor, offsets: CubeTensor, bits: u32, group: u32) -> CubeTensor {
        check_operands(&codes, &scales, &offsets, bits, group);
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
                bits,
                group as usize,
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

/// `x · Wᵀ` through the tiled kernel where the device takes it (see `product_tile`).
pub fn matmul_tile(x: Tensor<2>, codes: &Tensor<2, Int>, scales: &Tensor<2>, offsets: &Tensor<2>, bits: u32, group: usize) -> Option<Tensor<2>> {
    <burn::backend::Dispatch as QuantOps>::quant_matmul_tile(
        x.into_dispatch(),
        codes.clone().into_dispatch(),
        scales.clone().into_dispatch(),
        offsets.clone().into_dispatch(),
        bits,
        group as u32,
    )
    .map(Tensor::from_dispatch)
}

/// Weight rows × (at most) rows of `x` per invocation of the tiled product. Chosen on lavapipe
/// (`prefill_product_speed`): at 64 rows of `x`, 16×2 and 16×4 ran 1.6–2.5× faster than
/// expanding to f32 and burn's matmul, 1×8 and 1×16 (the per-row kernel's shape) 2–3× slower;
/// at 5 rows, 16×1 and 16×2 ran 2–3.5× faster than the per-row kernel.
const PRODUCT_TILE: (usize, usize) = (16, 2);

/// The tiled product's shape on devices without plane operations (the CPU-emulated GPUs:
/// lavapipe, SwiftShader); `None` on the others. `COTNPOT_PRODUCT_TILE=off` or `=RxT` (at run
/// time natively, at build time for wasm) overrides it, for measuring.
fn product_tile(client: &cubecl::client::Client) -> Option<(usize, usize)> {
    static CHOSEN: std::sync::OnceLock<Option<Option<(usize, usize)>>> = std::sync::OnceLock::new();
    let chosen = CHOSEN.get_or_init(|| {
        let wanted = std::env::var("COTNPOT_PRODUCT_TILE").ok().or(option_env!("COTNPOT_PRODUCT_TILE").map(String::from))?;
        if wanted == "off" {
            return Some(None);
        }
        let (r, t) = wanted.split_once('x')?;
        let tile: (usize, usize) = (r.parse().ok()?, t.parse().ok()?);
        Some(Some(tile).filter(|&(r, t)| r > 0 && t > 0))
    });
    match chosen {
        Some(forced) => *forced,
        None => fixed_plane_size(client).is_none().then_some(PRODUCT_TILE),
    }
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
