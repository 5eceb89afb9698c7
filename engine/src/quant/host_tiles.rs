//! Quantized weights laid out for AVX-512 VNNI, and their product with 16-bit integer
//! activations, for any number of rows of `x` (decode and prefill alike).
//!
//! Weight rows are stored 16 at a time (a tile, one 512-bit vector of 32-bit lanes), so that
//! one `vpdpwssd` multiplies two columns of 16 weight rows by the same two values of one row of
//! `x` (broadcast) and adds them into the 16 rows' integer sums. Per group of columns those sums
//! are scaled once:
//! `y[b, r] = Σ_g scale[r, g]·xscale[b, g]·(codes · values) + offset[r, g]·Σ_{c∈g} x[b, c]`.
//!
//! Within a tile, codes come column by column:
//! - 4 and 5 bits: 32 bytes per 4 columns `4q..4q+4`; byte `2i` holds row `i`'s column `4q` in its
//!   low nibble and `4q + 2` in its high one, byte `2i + 1` columns `4q + 1` and `4q + 3`. Widened
//!   to 16-bit words, the low nibbles are the lanes' `(4q, 4q + 1)` pairs, the high ones `(4q + 2,
//!   4q + 3)`. 5-bit codes add two words of fifth bits per 4 columns, bit `2i + j` of the first for
//!   column `4q + j` of row `i` (`j` < 2), of the second for column `4q + 2 + j`.
//! - 8 bits: 32 bytes per 2 columns `2p, 2p + 1`; byte `2i + j` is row `i`'s column `2p + j`.

use std::arch::x86_64::*;

use super::blocks::Decoded;
use super::i16_rows::{BLOCK, I16Rows, group_sums};

/// Weight rows per tile: the lanes of one vector.
pub const TILE: usize = 16;
/// Rows of `x` one pass serves: each holds an integer and a float accumulator.
const X_ROWS: usize = 8;

/// `$acc += Σ` over each 32-bit lane's two 16-bit products of `$w` with the pair of 16-bit
/// values at `$pair` (broadcast): one `vpdpwssd` with a broadcast memory operand. Written as
/// assembly because LLVM's generic x86 tuning compiles `_mm512_dpwssd_epi32` on a running sum
/// into `vpmaddwd` + `vpaddd` (and a separate broadcast), three instructions where Zen 4 runs
/// one `vpdpwssd` per cycle.
macro_rules! dpwssd {
    ($acc:expr, $w:expr, $pair:expr) => {
        std::arch::asm!(
            "vpdpwssd {acc}, {w}, dword ptr [{pair}]{{1to16}}",
            acc = inout(zmm_reg) $acc,
            w = in(zmm_reg) $w,
            pair = in(reg) $pair,
            options(pure, readonly, nostack, preserves_flags),
        )
    };
}

/// Rows `0..8` of a pass, the first `N` of them used: fixed-size arrays indexed by literals, so
/// that each row's accumulators live in registers.
macro_rules! each_row {
    ($step:ident) => {
        $step!(0);
        $step!(1);
        $step!(2);
        $step!(3);
        $step!(4);
        $step!(5);
        $step!(6);
        $step!(7);
    };
}

/// Code containers (4 or 8 bits) and group sizes the kernel takes: every block format the engine
/// reads.
pub fn supports(bits: u32, group: usize) -> bool {
    matches!((bits, group), (4, 32) | (8, 32) | (8, 16))
}

pub fn available() -> bool {
    is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw") && is_x86_feature_detected!("avx512vnni")
}

#[derive(Debug)]
pub struct Tiles {
    codes: Vec<u8>,
    high_bits: Vec<u32>,
    /// `[tiles, groups, 16]`
    scales: Floats,
    /// `[tiles, groups, 16]`
    offsets: Offsets,
    rows: usize,
    cols: usize,
    /// 4, 5 or 8.
    bits: u32,
    group: usize,
}

impl Tiles {
    /// `bits`: the code container (4 or 8); 8-bit codes that all fit 5 bits in groups of 32 (the
    /// Q5 formats) are stored in 5.
    pub fn new(decoded: &Decoded, bits: u32, rows: usize, cols: usize) -> Self {
        let group = decoded.group;
        assert!(cols % 32 == 0 && cols % group == 0 && supports(bits, group));
        let bits = if bits == 8 && group == 32 && decoded.codes.iter().all(|&c| c < 32) { 5 } else { bits };
        let tiles = rows.div_ceil(TILE);
        let groups = cols / group;
        let code = |r: usize, c: usize| if r < rows { decoded.codes[r * cols + c] } else { 0 };
        let mut codes = Vec::with_capacity(tiles * TILE * cols * if bits == 8 { 1 } else { 2 } / 2);
        let mut high_bits = Vec::new();
        for t in 0..tiles {
            let row = |i: usize| t * TILE + i;
            if bits == 8 {
                for p in 0..cols / 2 {
                    for i in 0..TILE {
                        codes.extend([code(row(i), 2 * p), code(row(i), 2 * p + 1)]);
                    }
                }
                continue;
            }
            for q in 0..cols / 4 {
                for i in 0..TILE {
                    let c = |j: usize| code(row(i), 4 * q + j);
                    codes.extend([(c(0) & 0x0f) | (c(2) << 4), (c(1) & 0x0f) | (c(3) << 4)]);
                }
                if bits == 5 {
                    for half in 0..2 {
                        let fifth = |i: usize, j: usize| ((code(row(i), 4 * q + 2 * half + j) >> 4) as u32 & 1) << (2 * i + j);
                        high_bits.push((0..TILE).map(|i| fifth(i, 0) | fifth(i, 1)).fold(0, |w, b| w | b));
                    }
                }
            }
        }
        let by_tile = |values: &[f32]| -> Vec<f32> {
            let mut out = vec![0f32; tiles * groups * TILE];
            for r in 0..rows {
                for g in 0..groups {
                    out[((r / TILE) * groups + g) * TILE + r % TILE] = values[r * groups + g];
                }
            }
            out
        };
        let offsets = match centre(&decoded.scales, &decoded.offsets) {
            Some(k) => Offsets::Centred(k),
            None => Offsets::Stored(Floats::new(by_tile(&decoded.offsets))),
        };
        Self { codes, high_bits, scales: Floats::new(by_tile(&decoded.scales)), offsets, rows, cols, bits, group }
    }

    /// Whether scales and offsets are stored in f16 and whether offsets are derived, for tests.
    #[cfg(test)]
    pub fn compact(&self) -> (bool, bool, bool) {
        let f16 = |f: &Floats| matches!(f, Floats::F16(_));
        match &self.offsets {
            Offsets::Centred(_) => (f16(&self.scales), false, true),
            Offsets::Stored(o) => (f16(&self.scales), f16(o), false),
        }
    }

    pub fn bytes(&self) -> usize {
        let offsets = match &self.offsets {
            Offsets::Centred(_) => 0,
            Offsets::Stored(values) => values.bytes(),
        };
        self.codes.len() + 4 * self.high_bits.len() + self.scales.bytes() + offsets
    }

    /// Code bytes per tile.
    fn tile_bytes(&self) -> usize {
        if self.bits == 8 { TILE * self.cols } else { TILE * self.cols / 2 }
    }

    /// Codes of group `g` of row `r`.
    pub fn group_codes(&self, r: usize, g: usize, out: &mut [f32]) {
        let (t, i) = (r / TILE, r % TILE);
        let tile = &self.codes[t * self.tile_bytes()..(t + 1) * self.tile_bytes()];
        let first = g * self.group;
        if self.bits == 8 {
            for (k, o) in out.iter_mut().enumerate() {
                let c = first + k;
                *o = tile[(c / 2) * 2 * TILE + 2 * i + c % 2] as f32;
            }
            return;
        }
        let quads = self.cols / 4;
        for (k, o) in out.iter_mut().enumerate() {
            let (q, j) = ((first + k) / 4, (first + k) % 4);
            let byte = tile[q * 2 * TILE + 2 * i + j % 2];
            let mut code = if j < 2 { byte & 0x0f } else { byte >> 4 } as u32;
            if self.bits == 5 {
                code |= ((self.high_bits[(t * quads + q) * 2 + j / 2] >> (2 * i + j % 2)) & 1) << 4;
            }
            *o = code as f32;
        }
    }

    /// Scale and offset of group `g` of row `r`.
    pub fn scale_offset(&self, r: usize, g: usize) -> (f32, f32) {
        let at = ((r / TILE) * (self.cols / self.group) + g) * TILE + r % TILE;
        let scale = self.scales.get(at);
        match &self.offsets {
            Offsets::Centred(k) => (scale, -k * scale),
            Offsets::Stored(values) => (scale, values.get(at)),
        }
    }

    /// `x · Wᵀ` for `x: [n, cols]` (row-major) → `[n, rows]`: with `x` rounded to 16-bit integers
    /// per 32 columns (`integer`), or exactly in f32.
    ///
    /// # Safety
    /// The CPU must have the features `available()` checks.
    pub unsafe fn matmul_t(&self, x: &[f32], n: usize, integer: bool) -> Vec<f32> {
        let x = if integer { Activations::Integer(I16Rows::quantize(x, self.cols, self.group)) } else { Activations::Exact(ExactRows::new(x, self.cols, self.group)) };
        let tiles = self.rows.div_ceil(TILE);
        let mut out = vec![0f32; n * self.rows];
        let shared = SharedOut(out.as_mut_ptr());
        use rayon::prelude::*;
        let per_task = tiles.div_ceil(4 * rayon::current_num_threads()).max(1);
        (0..tiles).into_par_iter().with_min_len(per_task).for_each(|t| {
            let width = TILE.min(self.rows - t * TILE);
            let mut results = [0f32; X_ROWS * TILE];
            let mut first = 0;
            while first < n {
                let rows = (n - first).min(X_ROWS);
                // SAFETY: the features are the caller's promise; `x` was made for this weight's
                // columns and groups, and `results` holds `rows` rows of one tile.
                unsafe { self.passes(t, &x, first, &mut results[..rows * TILE]) };
                for (b, row) in results[..rows * TILE].chunks_exact(TILE).enumerate() {
                    // SAFETY: columns `16t..16t + width` of every row of `out` belong to this
                    // task's tile alone, and lie inside `out`.
                    unsafe { std::ptr::copy_nonoverlapping(row.as_ptr(), shared.at((first + b) * self.rows + t * TILE), width) };
                }
                first += rows;
            }
        });
        out
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn passes(&self, t: usize, x: &Activations, first: usize, out: &mut [f32]) {
        let rows = out.len() / TILE;
        let groups = self.cols / self.group;
        match x {
            Activations::Integer(x) => assert!(x.cols == self.cols && x.sums_per_row >= groups && first + rows <= x.rows()),
            Activations::Exact(x) => assert!(x.values.len() == x.sums.len() / x.sums_per_row * self.cols && x.sums_per_row >= groups && (first + rows) * self.cols <= x.values.len()),
        }
        assert!(out.len() % TILE == 0 && rows <= X_ROWS);
        macro_rules! by_rows {
            ($bits:literal, $group:literal) => {
                // SAFETY: the shapes are checked above.
                unsafe {
                    match rows {
                        1 => self.run::<1, $bits, $group>(t, x, first, out),
                        2 => self.run::<2, $bits, $group>(t, x, first, out),
                        3 => self.run::<3, $bits, $group>(t, x, first, out),
                        4 => self.run::<4, $bits, $group>(t, x, first, out),
                        5 => self.run::<5, $bits, $group>(t, x, first, out),
                        6 => self.run::<6, $bits, $group>(t, x, first, out),
                        7 => self.run::<7, $bits, $group>(t, x, first, out),
                        _ => self.run::<8, $bits, $group>(t, x, first, out),
                    }
                }
            };
        }
        match (self.bits, self.group) {
            (4, 32) => by_rows!(4, 32),
            (5, 32) => by_rows!(5, 32),
            (8, 32) => by_rows!(8, 32),
            (8, 16) => by_rows!(8, 16),
            (bits, group) => panic!("no tile kernel for {bits}-bit codes in groups of {group}"),
        }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn run<const N: usize, const BITS: u32, const GROUP: usize>(&self, t: usize, x: &Activations, first: usize, out: &mut [f32]) {
        // SAFETY: passed through from `passes`.
        unsafe {
            match x {
                Activations::Integer(x) => self.pass::<N, BITS, GROUP>(t, x, first, out),
                Activations::Exact(x) => self.pass_exact::<N, BITS, GROUP>(t, x, first, out),
            }
        }
    }

    /// 16-bit codes of 4 columns `col..col + 4` of tile `t` (4- and 5-bit codes): lane `i` of the
    /// first vector holds row `i`'s columns `col, col + 1`, of the second `col + 2, col + 3`.
    #[target_feature(enable = "avx512f,avx512bw")]
    unsafe fn quad(&self, tile_codes: *const u8, tile_high: *const u32, col: usize, five: bool) -> (__m512i, __m512i) {
        // SAFETY: the caller passes tile `t`'s pointers and a column inside the row.
        unsafe {
            let bytes = _mm512_cvtepu8_epi16(_mm256_loadu_si256(tile_codes.wrapping_add(col.wrapping_mul(TILE / 2)) as *const __m256i));
            let nibble = _mm512_set1_epi16(0x0f);
            let mut low = _mm512_and_si512(bytes, nibble);
            let mut high = _mm512_and_si512(_mm512_srli_epi16(bytes, 4), nibble);
            if five {
                let fifth = tile_high.wrapping_add(col / 2);
                let sixteen = _mm512_set1_epi16(16);
                low = _mm512_or_si512(low, _mm512_and_si512(_mm512_movm_epi16(fifth.read()), sixteen));
                high = _mm512_or_si512(high, _mm512_and_si512(_mm512_movm_epi16(fifth.wrapping_add(1).read()), sixteen));
            }
            (low, high)
        }
    }

    /// 16-bit codes of columns `col, col + 1` of tile `t` (8-bit codes), lane `i` for row `i`.
    #[target_feature(enable = "avx512f,avx512bw")]
    unsafe fn pair(&self, tile_codes: *const u8, col: usize) -> __m512i {
        // SAFETY: as for `quad`.
        unsafe { _mm512_cvtepu8_epi16(_mm256_loadu_si256(tile_codes.wrapping_add(col.wrapping_mul(TILE)) as *const __m256i)) }
    }

    /// Pointers to tile `t`'s codes and fifth bits, and the index of its first scale.
    fn tile_parts(&self, t: usize) -> (*const u8, *const u32, usize) {
        (
            self.codes.as_ptr().wrapping_add(t.wrapping_mul(self.tile_bytes())),
            self.high_bits.as_ptr().wrapping_add(t.wrapping_mul(self.cols / 2)),
            t.wrapping_mul(self.cols / self.group * TILE),
        )
    }

    /// The 16 scales and offsets at `at` (a tile's group).
    #[target_feature(enable = "avx512f")]
    unsafe fn scales_offsets(&self, at: usize) -> (__m512, __m512) {
        // SAFETY: the caller passes the index of a group of a tile.
        unsafe {
            let scales = self.scales.load(at);
            let offsets = match &self.offsets {
                Offsets::Centred(k) => _mm512_mul_ps(_mm512_set1_ps(-k), scales),
                Offsets::Stored(values) => values.load(at),
            };
            (scales, offsets)
        }
    }

    /// Rows `first..first + N` of `x` against tile `t`, written to `out: [N, 16]`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn pass<const N: usize, const BITS: u32, const GROUP: usize>(&self, t: usize, x: &I16Rows, first: usize, out: &mut [f32]) {
        let cols = self.cols;
        // Index and pointer arithmetic wraps, and values load through intrinsics, because builds
        // with overflow checks or debug assertions check `+`, `ptr::add` and `*` at every use.
        // Every pointer stays inside the slices whose lengths `passes` checked.
        // SAFETY: as said.
        unsafe {
            let row = |b: usize| first + b.min(N - 1);
            let x_values: [*const i16; X_ROWS] = std::array::from_fn(|b| x.values.as_ptr().wrapping_add(row(b).wrapping_mul(cols)));
            let x_scales: [*const f32; X_ROWS] = std::array::from_fn(|b| x.scales.as_ptr().wrapping_add(row(b).wrapping_mul(cols / BLOCK)));
            let x_sums: [*const f32; X_ROWS] = std::array::from_fn(|b| x.sums.as_ptr().wrapping_add(row(b).wrapping_mul(x.sums_per_row)));
            let (tile_codes, tile_high, tile_groups) = self.tile_parts(t);
            let mut result = [_mm512_setzero_ps(); X_ROWS];
            // Where `x[b]`'s columns `c, c + 1` are.
            let pair = |b: usize, c: usize| x_values[b].wrapping_add(c);
            for g in 0..cols / GROUP {
                let first_col = g.wrapping_mul(GROUP);
                let mut dots = [_mm512_setzero_si512(); X_ROWS];
                if BITS == 8 {
                    for p in 0..GROUP / 2 {
                        let col = first_col.wrapping_add(2 * p);
                        let w = self.pair(tile_codes, col);
                        macro_rules! pair_step {
                            ($b:literal) => {
                                if $b < N {
                                    dpwssd!(dots[$b], w, pair($b, col));
                                }
                            };
                        }
                        each_row!(pair_step);
                    }
                } else {
                    for q in 0..GROUP / 4 {
                        let col = first_col.wrapping_add(4 * q);
                        let (low, high) = self.quad(tile_codes, tile_high, col, BITS == 5);
                        macro_rules! quad_step {
                            ($b:literal) => {
                                if $b < N {
                                    dpwssd!(dots[$b], low, pair($b, col));
                                    dpwssd!(dots[$b], high, pair($b, col.wrapping_add(2)));
                                }
                            };
                        }
                        each_row!(quad_step);
                    }
                }
                let (scales, offsets) = self.scales_offsets(tile_groups.wrapping_add(g.wrapping_mul(TILE)));
                macro_rules! group_step {
                    ($b:literal) => {
                        if $b < N {
                            let x_scale = _mm512_set1_ps(_mm_cvtss_f32(_mm_load_ss(x_scales[$b].wrapping_add(first_col / BLOCK))));
                            let x_sum = _mm512_set1_ps(_mm_cvtss_f32(_mm_load_ss(x_sums[$b].wrapping_add(g))));
                            let scaled = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dots[$b]), _mm512_mul_ps(scales, x_scale), result[$b]);
                            result[$b] = _mm512_fmadd_ps(offsets, x_sum, scaled);
                        }
                    };
                }
                each_row!(group_step);
            }
            store(&result[..N], out);
        }
    }

    /// As `pass`, with `x` in f32: each column's 16 codes as floats times that column's value.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn pass_exact<const N: usize, const BITS: u32, const GROUP: usize>(&self, t: usize, x: &ExactRows, first: usize, out: &mut [f32]) {
        let cols = self.cols;
        // SAFETY: as in `pass`.
        unsafe {
            let row = |b: usize| first + b.min(N - 1);
            let x_values: [*const f32; X_ROWS] = std::array::from_fn(|b| x.values.as_ptr().wrapping_add(row(b).wrapping_mul(cols)));
            let x_sums: [*const f32; X_ROWS] = std::array::from_fn(|b| x.sums.as_ptr().wrapping_add(row(b).wrapping_mul(x.sums_per_row)));
            let (tile_codes, tile_high, tile_groups) = self.tile_parts(t);
            let mut result = [_mm512_setzero_ps(); X_ROWS];
            let value = |b: usize, c: usize| _mm512_set1_ps(_mm_cvtss_f32(_mm_load_ss(x_values[b].wrapping_add(c))));
            // The two columns in each lane's pair of 16-bit codes, as floats.
            let split = |w: __m512i| (_mm512_cvtepi32_ps(_mm512_and_si512(w, _mm512_set1_epi32(0xffff))), _mm512_cvtepi32_ps(_mm512_srli_epi32(w, 16)));
            for g in 0..cols / GROUP {
                let first_col = g.wrapping_mul(GROUP);
                let mut dots = [_mm512_setzero_ps(); X_ROWS];
                for k in 0..GROUP / 4 {
                    let col = first_col.wrapping_add(4 * k);
                    let (low, high) = if BITS == 8 { (self.pair(tile_codes, col), self.pair(tile_codes, col.wrapping_add(2))) } else { self.quad(tile_codes, tile_high, col, BITS == 5) };
                    let ((c0, c1), (c2, c3)) = (split(low), split(high));
                    macro_rules! quad_step {
                        ($b:literal) => {
                            if $b < N {
                                dots[$b] = _mm512_fmadd_ps(c0, value($b, col), dots[$b]);
                                dots[$b] = _mm512_fmadd_ps(c1, value($b, col.wrapping_add(1)), dots[$b]);
                                dots[$b] = _mm512_fmadd_ps(c2, value($b, col.wrapping_add(2)), dots[$b]);
                                dots[$b] = _mm512_fmadd_ps(c3, value($b, col.wrapping_add(3)), dots[$b]);
                            }
                        };
                    }
                    each_row!(quad_step);
                }
                let (scales, offsets) = self.scales_offsets(tile_groups.wrapping_add(g.wrapping_mul(TILE)));
                macro_rules! group_step {
                    ($b:literal) => {
                        if $b < N {
                            let x_sum = _mm512_set1_ps(_mm_cvtss_f32(_mm_load_ss(x_sums[$b].wrapping_add(g))));
                            result[$b] = _mm512_fmadd_ps(offsets, x_sum, _mm512_fmadd_ps(dots[$b], scales, result[$b]));
                        }
                    };
                }
                each_row!(group_step);
            }
            store(&result[..N], out);
        }
    }
}


/// Each row's 16 results to its row of `out`.
#[target_feature(enable = "avx512f")]
unsafe fn store(result: &[__m512], out: &mut [f32]) {
    for (r, o) in result.iter().zip(out.chunks_exact_mut(TILE)) {
        // SAFETY: `o` holds 16 floats.
        unsafe { _mm512_storeu_ps(o.as_mut_ptr(), *r) };
    }
}

/// Per-group values (scales, offsets) in f16 where every one of them is exactly an f16 (the
/// formats whose blocks store them so: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0), else in f32.
#[derive(Debug)]
enum Floats {
    F32(Vec<f32>),
    F16(Vec<half::f16>),
}

impl Floats {
    fn new(values: Vec<f32>) -> Self {
        let halves: Vec<half::f16> = values.iter().map(|&v| half::f16::from_f32(v)).collect();
        if halves.iter().zip(&values).all(|(h, &v)| h.to_f32() == v) { Floats::F16(halves) } else { Floats::F32(values) }
    }

    fn get(&self, at: usize) -> f32 {
        match self {
            Floats::F32(values) => values[at],
            Floats::F16(values) => values[at].to_f32(),
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Floats::F32(values) => 4 * values.len(),
            Floats::F16(values) => 2 * values.len(),
        }
    }

    /// Values `at..at + 16` as f32.
    #[target_feature(enable = "avx512f")]
    unsafe fn load(&self, at: usize) -> __m512 {
        // SAFETY: the caller keeps `at + 16` within the values.
        unsafe {
            match self {
                Floats::F32(values) => _mm512_loadu_ps(values.as_ptr().wrapping_add(at)),
                Floats::F16(values) => _mm512_cvtph_ps(_mm256_loadu_si256(values.as_ptr().wrapping_add(at) as *const __m256i)),
            }
        }
    }
}

/// Offsets, unless every group's is `-k·scale` for one integer `k` (the symmetric formats: `k` is
/// 8 for Q4_0, 16 for Q5_0, 128 for Q8_0, 32 for Q6_K), which the kernel derives from the scale.
#[derive(Debug)]
enum Offsets {
    Centred(f32),
    Stored(Floats),
}

/// The `k` with `offset == -k·scale` in every group, if there is one.
fn centre(scales: &[f32], offsets: &[f32]) -> Option<f32> {
    let k = scales.iter().zip(offsets).find(|(s, _)| **s != 0.0).map_or(0.0, |(s, o)| -o / s);
    (k.fract() == 0.0 && scales.iter().zip(offsets).all(|(&s, &o)| -k * s == o)).then_some(k)
}

/// The product's output, written by tasks that each own whole tiles (disjoint columns).
struct SharedOut(*mut f32);

// SAFETY: tasks write disjoint elements (see `Tiles::matmul_t`).
unsafe impl Sync for SharedOut {}

impl SharedOut {
    fn at(&self, index: usize) -> *mut f32 {
        self.0.wrapping_add(index)
    }
}

/// Rows of `x` as the kernels take them.
enum Activations {
    Integer(I16Rows),
    Exact(ExactRows),
}

/// Rows of `x` in f32 with each group's sum, `[n, sums_per_row]` (padded as `I16Rows` pads).
struct ExactRows {
    values: Vec<f32>,
    sums: Vec<f32>,
    sums_per_row: usize,
}

impl ExactRows {
    fn new(x: &[f32], cols: usize, group: usize) -> Self {
        let (sums, sums_per_row) = group_sums(x, cols, group);
        Self { values: x.to_vec(), sums, sums_per_row }
    }
}
