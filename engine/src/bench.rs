//! Speed measurements shared by the native `cotnpot bench` and the page's benchmark mode.
//! Clock and memory readings come from the caller, which knows its platform.

use serde::Serialize;

use crate::EngineError;
use crate::generate::{Rng, RowDraw, SamplingParams, StepLogits, argmax, draw};
use crate::model::Transformer;
use crate::readback::to_vec;
use crate::score::score;
use crate::step::Stepper;

#[derive(Debug, Clone, Serialize)]
pub struct Speeds {
    /// `None` when only decoding was measured (as for the next three).
    pub prefill_tok_s: Option<f64>,
    pub decode_tok_s_batch1: f64,
    pub decode_tok_s_batch8: f64,
    pub score_8x256_s: Option<f64>,
    /// Kernel launches a batch-1 decode step issues (CubeCL devices only).
    pub dispatches_per_token_batch1: Option<f64>,
    /// CPU time of the calling thread for one decode step on a CubeCL device: issuing it (the
    /// device idle: the previous step was read back) and drawing the tokens from its logits
    /// (shortlisting them on the device, reading the shortlists back, finishing the draw).
    /// The wait for the step's logits is left out (on a CPU Vulkan driver such as lavapipe the
    /// shaders run on the same cores), and so is CubeCL's server thread (native), which binds,
    /// encodes and submits each launch, or re-encodes a replayed step: only the calling
    /// thread's CPU clock can be read apart from the shaders'.
    pub host_ms_per_token_batch1: Option<f64>,
    /// The same for a step of eight sequences, each sampled (temperature, top-k, top-p, min-p;
    /// batch 1 decodes greedily).
    pub host_ms_per_step_batch8: Option<f64>,
}

/// Deterministic pseudo-text token ids (avoiding the first 256 ids, where specials often live).
fn token_ids(n: usize, vocab: usize, salt: u64) -> Vec<u32> {
    let mut rng = crate::generate::Rng::new(0xBE7C, salt);
    (0..n).map(|_| 256 + (rng.next_u64() % (vocab as u64 - 256)) as u32).collect()
}

struct DecodeRun {
    tok_s: f64,
    host_ms_per_step: Option<f64>,
    launches_per_step: Option<f64>,
}

/// `steps` decode steps of `batch` rows through the generation path's stepper; batch 1 decodes
/// greedily, larger batches sample as the pipeline does.
async fn decode_rate(model: &Transformer, batch: usize, steps: usize, now: &dyn Fn() -> f64, thread_cpu: Option<&dyn Fn() -> f64>) -> Result<DecodeRun, EngineError> {
    let mut cache = model.new_cache();
    let prompt = token_ids(32, model.config.vocab, 1);
    let logits = to_vec(model.last_logits(&prompt, 1, &mut cache)).await?;
    let cache = cache.expand_batch(batch);
    let mut stepper = Stepper::new(model, cache, prompt.len() + steps + 2);
    let params = if batch == 1 { SamplingParams::greedy() } else { SamplingParams::default() };
    let mut rngs: Vec<Rng> = (0..batch).map(|i| Rng::new(0, i as u64)).collect();
    let vocab = model.config.vocab;
    let on_device = crate::generate::draws_on_device(&model.device);
    // One step untimed: the first compiles the step's kernels.
    let warm = to_vec(stepper.forward(model, &vec![argmax(&logits); batch])).await?;
    let mut next: Vec<u32> = warm.chunks(vocab).map(argmax).collect();
    let mut host_s = 0.0;
    let cpu = || thread_cpu.map_or(0.0, |f| f());
    let launches = LaunchCount::start();
    let start = now();
    for _ in 0..steps {
        // The device is idle here: the previous step's tokens were read.
        let issuing = cpu();
        let pending = stepper.forward(model, &next);
        host_s += cpu() - issuing;
        // Drawing is timed with the device idle: the step has finished.
        #[cfg(not(target_arch = "wasm32"))]
        model.device.sync().map_err(|e| EngineError::Device(e.to_string()))?;
        let drawing = cpu();
        let logits = if on_device { StepLogits::Device(pending) } else { StepLogits::Host(to_vec(pending).await?) };
        let rows = rngs.iter_mut().map(|rng| Some(RowDraw { params: &params, history: Vec::new(), rng })).collect();
        next = draw(logits, vocab, rows, false).await?.into_iter().map(|d| d.expect("a draw per row").0).collect();
        host_s += cpu() - drawing;
    }
    let elapsed = now() - start;
    // A replayed step issues no launches the observer sees: it re-encodes the ones it recorded.
    let replayed = if stepper.replays() { stepper.launches().unwrap_or(0) } else { 0 };
    let launches_per_step = launches.finish().map(|n| (n as f64 / steps as f64) + replayed as f64).or(stepper.launches().map(|n| n as f64));
    let host_ms_per_step = (thread_cpu.is_some() && crate::backend::runs_device_kernels(&model.device)).then(|| host_s * 1e3 / steps as f64);
    Ok(DecodeRun { tok_s: (batch * steps) as f64 / elapsed, host_ms_per_step, launches_per_step })
}

/// Counts the kernels the process launches while it lives (CubeCL's launch observer).
struct LaunchCount {
    #[cfg(feature = "wgpu")]
    observed: Option<(std::sync::Arc<Counter>, burn_cubecl::cubecl::logging::LaunchObservation)>,
}

#[cfg(feature = "wgpu")]
#[derive(Default)]
struct Counter(std::sync::atomic::AtomicUsize);

#[cfg(feature = "wgpu")]
impl burn_cubecl::cubecl::logging::LaunchObserver for Counter {
    fn launched(&self, _kernel: &'static str) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl LaunchCount {
    fn start() -> Self {
        #[cfg(feature = "wgpu")]
        {
            let counter = std::sync::Arc::new(Counter::default());
            let observation = burn_cubecl::cubecl::logging::LaunchObservation::new(counter.clone());
            Self { observed: Some((counter, observation)) }
        }
        #[cfg(not(feature = "wgpu"))]
        Self {}
    }

    /// Launches seen; `None` where nothing was (a backend that is not CubeCL).
    fn finish(self) -> Option<usize> {
        #[cfg(feature = "wgpu")]
        if let Some((counter, observation)) = self.observed {
            drop(observation);
            return Some(counter.0.load(std::sync::atomic::Ordering::Relaxed)).filter(|&n| n > 0);
        }
        None
    }
}

/// The prompt the prefill measurement runs.
pub const PREFILL_TOKENS: usize = 512;

/// Prefill of 512 tokens, decode steps at batch 1 and 8, and scoring 8 continuations of 256
/// tokens; with `decode_only`, the decode steps alone. `now` returns seconds from any fixed
/// origin; `thread_cpu`, where the platform has it, the CPU seconds the calling thread has used.
pub async fn measure(model: &Transformer, decode_steps: usize, decode_only: bool, now: &dyn Fn() -> f64, thread_cpu: Option<&dyn Fn() -> f64>) -> Result<Speeds, EngineError> {
    let batch1 = decode_rate(model, 1, decode_steps, now, thread_cpu).await?;
    let batch8 = decode_rate(model, 8, decode_steps, now, thread_cpu).await?;
    let mut speeds = Speeds {
        prefill_tok_s: None,
        decode_tok_s_batch1: batch1.tok_s,
        decode_tok_s_batch8: batch8.tok_s,
        score_8x256_s: None,
        dispatches_per_token_batch1: batch1.launches_per_step,
        host_ms_per_token_batch1: batch1.host_ms_per_step,
        host_ms_per_step_batch8: batch8.host_ms_per_step,
    };
    if decode_only {
        return Ok(speeds);
    }
    let vocab = model.config.vocab;
    let prompt = token_ids(PREFILL_TOKENS, vocab, 2);
    let start = now();
    let mut cache = model.new_cache();
    to_vec(model.last_logits(&prompt, 1, &mut cache)).await?;
    speeds.prefill_tok_s = Some(PREFILL_TOKENS as f64 / (now() - start));

    let question = token_ids(64, vocab, 3);
    let continuations: Vec<Vec<u32>> = (0..8).map(|i| token_ids(256, vocab, 10 + i)).collect();
    let start = now();
    score(model, &question, &continuations).await?;
    speeds.score_8x256_s = Some(now() - start);
    Ok(speeds)
}
