//! The fused decode step on a CubeCL device: the model's weights as kernel operands, and the
//! buffers a generation keeps for its whole length (the KV cache at a fixed capacity, the
//! activations, the logits, and the per-token inputs written in place each step).

use burn::tensor::{Bytes, Int, Tensor};
use burn_cubecl::cubecl;
use burn_cubecl::{CubeBackend, kernel::into_contiguous, tensor::CubeTensor};
use cubecl::prelude::*;

use super::kernels;
use crate::model::{Block, KvCache, ModelConfig, RopeStyle, Transformer};
use crate::quant::Weight;
use crate::quant::device_kernel::fixed_plane_size;

/// Rows of a batch the step compiles kernels for (each batch size is its own kernel): N = 16
/// samples plus the greedy row.
const MOST_ROWS: usize = 17;

fn cube<const D: usize>(t: &Tensor<D>) -> CubeTensor {
    into_contiguous(t.clone().try_into_primitive::<CubeBackend>().expect("a tensor on a CubeCL device"))
}

fn cube_int<const D: usize>(t: &Tensor<D, Int>) -> CubeTensor {
    into_contiguous(t.clone().try_into_primitive::<CubeBackend>().expect("a tensor on a CubeCL device"))
}

/// One block of rows of a quantized matrix, as kernel operands.
#[derive(Clone)]
struct Quant {
    codes: CubeTensor,
    scales: CubeTensor,
    offsets: CubeTensor,
    bits: u32,
    group: usize,
    start: usize,
    rows: usize,
    cols: usize,
}

/// The blocks of a quantized weight; `None` for other weights (dense, or on the host).
fn quant_blocks(weight: &Weight) -> Option<Vec<Quant>> {
    let Weight::Quant(q) = weight else {
        return None;
    };
    let (bits, group) = q.format();
    Some(q.row_blocks().map(|(start, rows, codes, scales, offsets)| Quant { codes: cube_int(codes), scales: cube(scales), offsets: cube(offsets), bits, group, start, rows, cols: q.cols() }).collect())
}

/// A layer's projection: a quantized weight held in one block.
fn projection(linear: &crate::model::Linear) -> Option<Quant> {
    if linear.lora.is_some() {
        return None;
    }
    let mut blocks = quant_blocks(&linear.weight)?;
    (blocks.len() == 1).then(|| blocks.remove(0))
}

struct LayerWeights {
    attn_gain: CubeTensor,
    ffn_gain: CubeTensor,
    q: Quant,
    k: Quant,
    v: Quant,
    o: Quant,
    gate: Quant,
    up: Quant,
    down: Quant,
    biases: Option<[CubeTensor; 3]>,
}

impl LayerWeights {
    fn new(block: &Block) -> Option<Self> {
        let attn = &block.attn;
        let biases = match (&attn.q_bias, &attn.k_bias, &attn.v_bias) {
            (Some(q), Some(k), Some(v)) => Some([cube(q), cube(k), cube(v)]),
            (None, None, None) => None,
            _ => return None,
        };
        Some(Self {
            attn_gain: cube(&block.attn_norm.gain),
            ffn_gain: cube(&block.ffn_norm.gain),
            q: projection(&attn.q)?,
            k: projection(&attn.k)?,
            v: projection(&attn.v)?,
            o: projection(&attn.o)?,
            gate: projection(&block.ffn.gate)?,
            up: projection(&block.ffn.up)?,
            down: projection(&block.ffn.down)?,
            biases,
        })
    }
}

/// The step's launch geometry: `lanes` invocations per item, `items` items per cube (with one
/// lane, cubes of the device's default size along x). GPUs fold each RMSNorm into the products
/// that read it; CPU adapters run it as a launch of its own (see `norm_input`).
#[derive(Clone, Copy)]
struct Geometry {
    lanes: u32,
    items: u32,
    fold_norms: bool,
}

impl Geometry {
    fn grid(self, client: &cubecl::client::Client, items: usize) -> (CubeCount, CubeDim) {
        let dim = if self.lanes == 1 { CubeDim::new(client, items) } else { CubeDim::new_2d(self.lanes, self.items) };
        (cubecl::calculate_cube_count_elemwise(client, items * self.lanes as usize, dim), dim)
    }
}

/// A decode step whose launches are fixed for a generation: `rows` sequences, a KV cache of
/// `capacity` positions, per-token inputs read from device buffers.
pub struct DecodeStep {
    config: ModelConfig,
    rows: usize,
    capacity: usize,
    /// The position the next step's tokens take.
    position: usize,
    geometry: Geometry,
    embedding: Vec<Quant>,
    layers: Vec<LayerWeights>,
    final_gain: CubeTensor,
    head: Vec<Quant>,
    /// `[rows, d_model]`: the residual stream.
    x: CubeTensor,
    /// `[rows, d_model]`: its RMSNorm, where norms are not folded into the products.
    normed: CubeTensor,
    /// `[rows, heads·head_dim]`
    q: CubeTensor,
    attn: CubeTensor,
    /// `[rows, d_ff]`: the gate, then silu(gate)·up in place.
    hidden: CubeTensor,
    /// `[rows, vocab]`
    logits: CubeTensor,
    /// Per layer, keys and values `[rows, kv_heads, capacity, head_dim]`.
    cache: Vec<(CubeTensor, CubeTensor)>,
    /// `[rows]` u32: this step's token ids.
    tokens: CubeTensor,
    /// `[1 + 2·rope_half]` f32: position, cos, sin (see `kernels`).
    step_in: CubeTensor,
    /// `[rows]` u32: each row's left-padding (positions no query attends to).
    padding: CubeTensor,
    recording: Recording,
}

/// A step's launches recorded once (CubeCL's graph capture: pipelines, bindings and uniforms
/// resolved at recording) and replayed at every later position, only the input buffers
/// rewritten in between.
enum Recording {
    /// Record at the next step.
    Wanted,
    Recorded(cubecl::client::Graph),
    /// Launch every step: recording is off (see `replay_allowed`) or failed.
    Off,
}

/// Whether steps are recorded and replayed: natively unless `COTNPOT_REPLAY=0`, in the page only
/// when built with `COTNPOT_REPLAY=1` (on SwiftShader it made no difference the page's runs could
/// resolve, BENCHMARKS.md; that its capture succeeds there, and what it gives in a browser on a
/// GPU, is not yet shown), and never while
/// CubeCL's profiling logger times launches (a capture refuses timing, and the launch then
/// panics).
fn replay_allowed() -> bool {
    use cubecl::config::{CubeClRuntimeConfig, RuntimeConfig, profiling::ProfilingLogLevel};
    let timed = !matches!(CubeClRuntimeConfig::get().profiling.logger.level, ProfilingLogLevel::Disabled | ProfilingLogLevel::Minimal);
    let setting = std::env::var("COTNPOT_REPLAY").ok().or(option_env!("COTNPOT_REPLAY").map(String::from));
    let wanted = match setting.as_deref() {
        Some("0") => false,
        Some("1") => true,
        _ => cfg!(not(target_arch = "wasm32")),
    };
    wanted && !timed
}

impl DecodeStep {
    /// Whether the fused step is the faster one for `rows` rows on the model's device. On CPU
    /// adapters (no planes) a batch runs faster through the layered pass, whose tiled products
    /// read each activation once for 16 weight rows (lavapipe, SmolLM2, batch 8: 13.0 tok/s
    /// layered, 3.4 fused; batch 1: 2.3 and 2.8).
    pub fn preferred(model: &Transformer, rows: usize) -> bool {
        crate::backend::runs_device_kernels(&model.device) && (rows == 1 || fixed_plane_size(&cube(&model.final_norm.gain).client).is_some())
    }

    /// The step for `model` continuing `cache` (filled by a prefill) with room for `capacity`
    /// positions; `None` where the model or device does not suit it (then the layered forward
    /// pass decodes): not a CubeCL device, an adapter attached, weights not quantized, or a
    /// batch wider than the kernels are built for.
    pub fn new(model: &Transformer, cache: &KvCache, capacity: usize) -> Option<Self> {
        let config = model.config.clone();
        let first = cache.layer(0)?;
        let rows = first.0.dims()[0];
        if !crate::backend::runs_device_kernels(&model.device) || rows > MOST_ROWS || cache.is_empty() || !model.is_llama_shaped() {
            return None;
        }
        if !config.head_dim.is_multiple_of(2) || !config.rope_dims.is_multiple_of(2) || config.rope_dims > config.head_dim {
            return None;
        }
        let embedding = quant_blocks(&model.embedding)?;
        let head = quant_blocks(model.head.as_ref().unwrap_or(&model.embedding))?;
        let layers = model.blocks.iter().map(LayerWeights::new).collect::<Option<Vec<_>>>()?;
        let final_gain = cube(&model.final_norm.gain);
        let client = final_gain.client.clone();
        let lanes = match fixed_plane_size(&client) {
            Some(lanes) if config.head_dim.is_multiple_of(lanes as usize) => lanes,
            Some(_) => return None,
            None => 1,
        };
        let geometry = Geometry { lanes, items: 4, fold_norms: lanes > 1 };

        let device = &model.device;
        let zeros = |rows: usize, cols: usize| cube(&Tensor::<2>::zeros([rows, cols], device));
        let (d, qd) = (config.d_model, config.heads * config.head_dim);
        let capacity = capacity.max(cache.len() + 1);
        let padding: Vec<u32> = match cache.padding() {
            [] => vec![0; rows],
            p => p.iter().map(|&p| p as u32).collect(),
        };
        let int_buffer = |values: Vec<u32>| {
            let values: Vec<i32> = values.into_iter().map(|v| v as i32).collect();
            let n = values.len();
            cube_int(&Tensor::<1, Int>::from_data(burn::tensor::TensorData::new(values, [n]), device))
        };
        let step = Self {
            cache: (0..config.layers).map(|i| Self::cache_layer(cache, i, rows, &config, capacity)).collect::<Option<_>>()?,
            x: zeros(rows, d),
            normed: zeros(rows, d),
            q: zeros(rows, qd),
            attn: zeros(rows, qd),
            hidden: zeros(rows, config.d_ff),
            logits: zeros(rows, config.vocab),
            tokens: int_buffer(vec![0; rows]),
            step_in: zeros(1, 1 + config.rope_dims),
            padding: int_buffer(padding),
            recording: if replay_allowed() { Recording::Wanted } else { Recording::Off },
            position: cache.len(),
            rows,
            capacity,
            geometry,
            embedding,
            layers,
            final_gain,
            head,
            config,
        };
        Some(step)
    }

    /// Layer `i` of `cache` copied into buffers of `capacity` positions.
    fn cache_layer(cache: &KvCache, i: usize, rows: usize, config: &ModelConfig, capacity: usize) -> Option<(CubeTensor, CubeTensor)> {
        let (k, v) = cache.layer(i)?;
        let t = cache.len();
        let (kv, hd) = (config.kv_heads, config.head_dim);
        let widen = |old: &Tensor<4>| {
            let fresh = Tensor::<4>::zeros([rows, kv, capacity, hd], &old.device());
            cube(&fresh.slice_assign([0..rows, 0..kv, 0..t, 0..hd], old.clone().narrow(2, 0, t)))
        };
        Some((widen(k), widen(v)))
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Positions cached so far.
    pub fn position(&self) -> usize {
        self.position
    }

    /// Whether the next step replays a recording rather than launching its kernels.
    pub fn replays(&self) -> bool {
        matches!(self.recording, Recording::Recorded(_))
    }

    /// Kernel launches one step issues.
    pub fn launches(&self) -> usize {
        let norms = if self.geometry.fold_norms { 0 } else { 2 * self.layers.len() + 1 };
        self.embedding.len() + self.layers.len() * 8 + self.head.len() + norms
    }

    /// Runs the model on one token per row (ids inside the vocabulary) at the next position and
    /// returns the logits `[rows, vocab]`. The tensor shares the step's logits buffer: read it
    /// before the next step.
    pub fn forward(&mut self, tokens: &[u32]) -> Tensor<2> {
        assert_eq!(tokens.len(), self.rows, "one token per row");
        if self.position == self.capacity {
            self.grow();
            // The recording holds the old cache buffers.
            if matches!(self.recording, Recording::Recorded(_)) {
                self.recording = Recording::Wanted;
            }
        }
        self.write_inputs(tokens);
        match &self.recording {
            // Safety: every buffer the recording binds is a field of `self`, kept until the
            // recording is dropped or replaced (`grow` replaces the cache, then re-records);
            // writes, replays and reads all go through this thread's stream.
            Recording::Recorded(graph) => {
                if unsafe { graph.replay() }.is_err() {
                    self.recording = Recording::Off;
                    self.launch_all();
                }
            }
            Recording::Wanted => self.recording = self.launch_and_record(),
            Recording::Off => self.launch_all(),
        }
        self.position += 1;
        Tensor::from_primitive::<CubeBackend>(self.logits.clone())
    }

    /// Launches the step (its results are this step's) and records the same launches for the
    /// steps after it; `Off` where the device cannot record.
    fn launch_and_record(&self) -> Recording {
        let client = self.x.client.clone();
        if client.graph_prepare().is_err() {
            self.launch_all();
            return Recording::Off;
        }
        // The warm-up run, which capture requires: it makes every allocation the launches need
        // (`start_capture` submits it). Natively it is also waited for, so that a failure in it
        // shows here; the browser cannot block, and its failure shows at the step's read-back.
        self.launch_all();
        #[cfg(not(target_arch = "wasm32"))]
        let warmed = cubecl::future::block_on(client.sync()).is_ok();
        #[cfg(target_arch = "wasm32")]
        let warmed = true;
        if !warmed || client.start_capture().is_err() {
            // A capture prepared but not opened holds the stream until it is closed.
            let _ = client.stop_capture();
            return Recording::Off;
        }
        self.launch_all();
        match client.stop_capture() {
            Ok(graph) => Recording::Recorded(graph),
            Err(_) => Recording::Off,
        }
    }

    /// The position, its RoPE angles and the token ids, written into the step's input buffers.
    fn write_inputs(&self, tokens: &[u32]) {
        let config = &self.config;
        let half = config.rope_dims / 2;
        let mut step_in = vec![0f32; 1 + 2 * half];
        step_in[0] = self.position as f32;
        for (i, omega) in config.rope_frequencies(0).into_iter().enumerate() {
            let angle = self.position as f64 * omega;
            step_in[1 + i] = angle.cos() as f32;
            step_in[1 + half + i] = angle.sin() as f32;
        }
        let client = &self.tokens.client;
        client.write(&self.tokens.handle, Bytes::from_elems(tokens.to_vec()));
        client.write(&self.step_in.handle, Bytes::from_elems(step_in));
    }

    /// Doubles the cache's capacity, keeping what it holds (the launches change with it).
    fn grow(&mut self) {
        let capacity = self.capacity * 2;
        let (rows, kv, hd, t) = (self.rows, self.config.kv_heads, self.config.head_dim, self.position);
        for (k, v) in &mut self.cache {
            for buffer in [k, v] {
                let old: Tensor<4> = Tensor::from_primitive::<CubeBackend>(buffer.clone());
                let fresh = Tensor::<4>::zeros([rows, kv, capacity, hd], &old.device());
                *buffer = cube(&fresh.slice_assign([0..rows, 0..kv, 0..t, 0..hd], old.narrow(2, 0, t)));
            }
        }
        self.capacity = capacity;
    }

    fn launch_all(&self) {
        let client = self.x.client.clone();
        let (n, config, g) = (self.rows, &self.config, self.geometry);
        let lanes = g.lanes as usize;
        let d = config.d_model;
        let eps = config.rms_eps as f32;

        for block in &self.embedding {
            let words = d * block.bits as usize / 32;
            let dim = CubeDim::new(&client, n * words);
            let count = cubecl::calculate_cube_count_elemwise(&client, n * words, dim);
            unsafe {
                kernels::embed_kernel::launch_unchecked(
                    &client,
                    count,
                    dim,
                    self.tokens.clone().into_buffer_arg(),
                    block.codes.clone().into_buffer_arg(),
                    block.scales.clone().into_buffer_arg(),
                    block.offsets.clone().into_buffer_arg(),
                    self.x.clone().into_buffer_arg(),
                    n,
                    block.start,
                    block.rows,
                    d,
                    block.bits,
                    block.group,
                );
            }
        }

        for (layer, (k_cache, v_cache)) in self.layers.iter().zip(&self.cache) {
            let input = self.norm_input(&client, &layer.attn_gain);
            let projections = [(&layer.q, &self.q, config.heads, true, false), (&layer.k, k_cache, config.kv_heads, true, true), (&layer.v, v_cache, config.kv_heads, false, true)];
            for (which, (w, out, heads, rotate, to_cache)) in projections.into_iter().enumerate() {
                let bias = layer.biases.as_ref().map_or(&layer.attn_gain, |b| &b[which]);
                let (count, dim) = g.grid(&client, heads * config.head_dim / 2);
                unsafe {
                    kernels::head_projection_kernel::launch_unchecked(
                        &client,
                        count,
                        dim,
                        input.clone().into_buffer_arg(),
                        layer.attn_gain.clone().into_buffer_arg(),
                        w.codes.clone().into_buffer_arg(),
                        w.scales.clone().into_buffer_arg(),
                        w.offsets.clone().into_buffer_arg(),
                        bias.clone().into_buffer_arg(),
                        self.step_in.clone().into_buffer_arg(),
                        out.clone().into_buffer_arg(),
                        d,
                        heads,
                        self.capacity,
                        eps,
                        n,
                        config.head_dim,
                        config.rope_dims / 2,
                        config.rope_style == RopeStyle::Halves,
                        rotate,
                        to_cache,
                        layer.biases.is_some(),
                        w.bits,
                        w.group,
                        lanes,
                        g.fold_norms,
                    );
                }
            }

            let (count, dim) = g.grid(&client, n * config.heads);
            unsafe {
                kernels::attention_kernel::launch_unchecked(
                    &client,
                    count,
                    dim,
                    self.q.clone().into_buffer_arg(),
                    k_cache.clone().into_buffer_arg(),
                    v_cache.clone().into_buffer_arg(),
                    self.step_in.clone().into_buffer_arg(),
                    self.padding.clone().into_buffer_arg(),
                    self.attn.clone().into_buffer_arg(),
                    n,
                    config.heads,
                    config.kv_heads,
                    self.capacity,
                    1.0 / (config.head_dim as f32).sqrt(),
                    config.head_dim,
                    lanes,
                );
            }
            self.residual_product(&client, &layer.o, &self.attn);
            let input = self.norm_input(&client, &layer.ffn_gain);
            self.norm_product(&client, input, &layer.ffn_gain, &layer.gate, &self.hidden, config.d_ff, false);
            self.norm_product(&client, input, &layer.ffn_gain, &layer.up, &self.hidden, config.d_ff, true);
            self.residual_product(&client, &layer.down, &self.hidden);
        }

        let input = self.norm_input(&client, &self.final_gain);
        for block in &self.head {
            self.norm_product(&client, input, &self.final_gain, block, &self.logits, config.vocab, false);
        }
    }

    /// What the products after an RMSNorm with `gain` read: the residual stream where they fold
    /// the norm in, else its norm, computed here by the layered pass's kernel. CPU adapters
    /// take that launch: reading the gain inside every product cost them more (a second
    /// gathered load per column: the products ran 2–3× slower on lavapipe with the norm folded).
    fn norm_input(&self, client: &cubecl::client::Client, gain: &CubeTensor) -> &CubeTensor {
        if self.geometry.fold_norms {
            return &self.x;
        }
        let dim = CubeDim::new(client, self.rows);
        let count = cubecl::calculate_cube_count_elemwise(client, self.rows, dim);
        unsafe {
            crate::model::device_ops::rms_norm_kernel::launch_unchecked(
                client,
                count,
                dim,
                self.x.clone().into_buffer_arg(),
                gain.clone().into_buffer_arg(),
                self.normed.clone().into_buffer_arg(),
                self.rows,
                self.config.d_model,
                self.config.rms_eps as f32,
            );
        }
        &self.normed
    }

    /// `x += W · input`
    fn residual_product(&self, client: &cubecl::client::Client, w: &Quant, input: &CubeTensor) {
        let (count, dim) = self.geometry.grid(client, w.rows);
        unsafe {
            kernels::residual_product_kernel::launch_unchecked(
                client,
                count,
                dim,
                input.clone().into_buffer_arg(),
                w.codes.clone().into_buffer_arg(),
                w.scales.clone().into_buffer_arg(),
                w.offsets.clone().into_buffer_arg(),
                self.x.clone().into_buffer_arg(),
                w.rows,
                w.cols,
                self.rows,
                w.bits,
                w.group,
                self.geometry.lanes as usize,
            );
        }
    }

    /// `out[:, start..start + rows] = W · RMSNorm(x)` (or silu(out)·that, `gate_in_place`);
    /// `input` is x where the norm is folded in, else the norm (see `norm_input`).
    #[allow(clippy::too_many_arguments)]
    fn norm_product(&self, client: &cubecl::client::Client, input: &CubeTensor, gain: &CubeTensor, w: &Quant, out: &CubeTensor, out_cols: usize, gate_in_place: bool) {
        let (count, dim) = self.geometry.grid(client, w.rows);
        unsafe {
            kernels::norm_product_kernel::launch_unchecked(
                client,
                count,
                dim,
                input.clone().into_buffer_arg(),
                gain.clone().into_buffer_arg(),
                w.codes.clone().into_buffer_arg(),
                w.scales.clone().into_buffer_arg(),
                w.offsets.clone().into_buffer_arg(),
                out.clone().into_buffer_arg(),
                w.rows,
                w.cols,
                out_cols,
                w.start,
                self.config.rms_eps as f32,
                self.rows,
                w.bits,
                w.group,
                self.geometry.lanes as usize,
                gate_in_place,
                self.geometry.fold_norms,
            );
        }
    }
}
