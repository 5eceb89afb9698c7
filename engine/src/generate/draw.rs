//! A decode step's next tokens from its logits. Where the logits live on a CubeCL device, the
//! device shortlists each row (`step::shortlist`) and only the shortlists are read back; the
//! host draws from whole rows otherwise, and for any row whose shortlist cannot decide.

use burn::tensor::Tensor;

use super::rng::Rng;
use super::sampling::{SamplingParams, sample};
use crate::EngineError;
use crate::readback::to_vec;

/// A step's logits `[rows, vocab]`.
pub enum StepLogits {
    Host(Vec<f32>),
    Device(Tensor<2>),
}

/// How one row draws its token.
pub struct RowDraw<'a> {
    pub params: &'a SamplingParams,
    /// The ids the repetition penalty applies to (read only where it is on).
    pub history: Vec<u32>,
    pub rng: &'a mut Rng,
}

/// Each row's token and, with `log_probs`, its log-probability under the model's own
/// distribution (NaN without); `None` for rows without a draw.
pub async fn draw(logits: StepLogits, vocab: usize, rows: Vec<Option<RowDraw<'_>>>, log_probs: bool) -> Result<Vec<Option<(u32, f32)>>, EngineError> {
    match logits {
        StepLogits::Host(mut logits) => Ok(draw_on_host(&mut logits, vocab, rows, log_probs)),
        StepLogits::Device(logits) => draw_on_device(logits, vocab, rows, log_probs).await,
    }
}

/// Whether a step's logits stay on `device` for `draw` to shortlist there: on GPUs. On CPU
/// adapters (lavapipe, SwiftShader) the host draws by default: their "device" is the same CPU
/// cores, the read-back a copy, and the shortlist's passes over the vocabulary cost more than
/// the host's draw (see BENCHMARKS.md). `COTNPOT_DEVICE_SAMPLING=0` turns it off everywhere,
/// `=1` on for CPU adapters too (natively at run time, for wasm at build time).
pub fn on_device(device: &burn::tensor::Device) -> bool {
    static SETTING: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let setting = SETTING.get_or_init(|| std::env::var("COTNPOT_DEVICE_SAMPLING").ok().or(option_env!("COTNPOT_DEVICE_SAMPLING").map(String::from)));
    match setting.as_deref() {
        Some("0") => false,
        Some("1") => crate::backend::runs_device_kernels(device),
        _ => crate::backend::runs_device_kernels(device) && crate::step::on_gpu(device),
    }
}

fn draw_row(row: &mut [f32], draw: RowDraw, log_probs: bool) -> (u32, f32) {
    let penalised = draw.params.repetition_penalty != 1.0;
    // `sample` changes the row only through the repetition penalty.
    let log_z = log_probs.then(|| log_sum_exp(row));
    let raw = (log_probs && penalised).then(|| row.to_vec());
    let token = sample(row, &draw.history, draw.params, draw.rng);
    let log_prob = log_z.map_or(f32::NAN, |log_z| raw.as_deref().unwrap_or(row)[token as usize] - log_z);
    (token, log_prob)
}

/// Each sequence draws from its own generator, so drawing the rows at once (on all cores
/// natively) gives what drawing them one after another does.
fn draw_on_host(logits: &mut [f32], vocab: usize, rows: Vec<Option<RowDraw>>, log_probs: bool) -> Vec<Option<(u32, f32)>> {
    #[cfg(not(target_arch = "wasm32"))]
    if rows.iter().flatten().any(|r| !r.params.is_greedy()) {
        use rayon::prelude::*;
        return rows.into_par_iter().zip(logits.par_chunks_mut(vocab)).map(|(r, row)| r.map(|r| draw_row(row, r, log_probs))).collect();
    }
    rows.into_iter().zip(logits.chunks_mut(vocab)).map(|(r, row)| r.map(|r| draw_row(row, r, log_probs))).collect()
}

#[cfg(not(feature = "wgpu"))]
async fn draw_on_device(logits: Tensor<2>, vocab: usize, rows: Vec<Option<RowDraw<'_>>>, log_probs: bool) -> Result<Vec<Option<(u32, f32)>>, EngineError> {
    Ok(draw_on_host(&mut to_vec(logits).await?, vocab, rows, log_probs))
}

/// The shortlist every row can be served from, or `None` where the rows' samplers differ in a
/// way one launch cannot serve (temperatures or penalties of their own).
#[cfg(feature = "wgpu")]
fn request(rows: &[Option<RowDraw>]) -> Option<crate::step::shortlist::Request> {
    use crate::step::shortlist::Request;
    let sampled: Vec<&SamplingParams> = rows.iter().flatten().map(|r| r.params).filter(|p| !p.is_greedy() || p.repetition_penalty != 1.0).collect();
    let Some(first) = sampled.first() else {
        return Some(Request { wanted: 1, capacity: 64, penalty: 1.0, temperature: 1.0 });
    };
    if sampled.iter().any(|p| p.temperature != first.temperature || p.repetition_penalty != first.repetition_penalty) {
        return None;
    }
    // Top-k's candidates and a margin (a GPU's division may round a penalised logit a few ulps
    // off the host's, which only the shortlist's threshold could feel), or enough for top-p and
    // min-p to end among them mostly.
    let wanted = sampled.iter().map(|p| if p.top_k > 0 { p.top_k + 16 } else { 256 }).max().unwrap_or(1).min(4096);
    Some(Request { wanted, capacity: 2 * wanted + 64, penalty: first.repetition_penalty, temperature: first.temperature })
}

#[cfg(feature = "wgpu")]
async fn draw_on_device(logits: Tensor<2>, vocab: usize, rows: Vec<Option<RowDraw<'_>>>, log_probs: bool) -> Result<Vec<Option<(u32, f32)>>, EngineError> {
    use super::sampling::sample_shortlisted;
    use crate::step::shortlist;

    let Some(request) = request(&rows) else {
        return Ok(draw_on_host(&mut to_vec(logits).await?, vocab, rows, log_probs));
    };
    let mut history = Vec::new();
    if request.penalty != 1.0 {
        let words = vocab.div_ceil(32);
        history = vec![0u32; rows.len() * words];
        for (i, r) in rows.iter().enumerate() {
            for &id in r.iter().filter(|r| r.params.repetition_penalty != 1.0).flat_map(|r| &r.history) {
                history[i * words + id as usize / 32] |= 1 << (id % 32);
            }
        }
    }
    let shortlists = shortlist::rows(&to_vec(shortlist::shortlist(&logits, &history, request)).await?, vocab, request.capacity);
    let mut drawn = Vec::with_capacity(rows.len());
    let mut undecided = Vec::new();
    for (i, (r, short)) in rows.into_iter().zip(&shortlists).enumerate() {
        let Some(r) = r else {
            drawn.push(None);
            continue;
        };
        match sample_shortlisted(short, &r.history, r.params, r.rng) {
            Some(token) => {
                let raw = short.candidates.iter().find(|c| c.0 == token).map_or(f32::NAN, |c| c.1);
                drawn.push(Some((token, if log_probs { raw - short.log_z } else { f32::NAN })));
            }
            None => {
                drawn.push(None);
                undecided.push((i, r));
            }
        }
    }
    // Rows the shortlist could not decide draw from their whole rows.
    if !undecided.is_empty() {
        let mut all = to_vec(logits).await?;
        for (i, r) in undecided {
            drawn[i] = Some(draw_row(&mut all[i * vocab..(i + 1) * vocab], r, log_probs));
        }
    }
    Ok(drawn)
}

/// `ln Σ exp(l)` over a row of logits, accumulated in f64 (the vocabulary runs to 150k entries).
fn log_sum_exp(row: &[f32]) -> f32 {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if !max.is_finite() {
        return max;
    }
    let sum: f64 = row.iter().map(|&l| ((l - max) as f64).exp()).sum();
    (max as f64 + sum.ln()) as f32
}
