//! The verifier's differentiable reward: mean log-probability of each solution given the prompt.

use burn::tensor::{Int, Tensor, TensorData};

use super::simpo::masked_mean_log_prob;
use crate::EngineError;
use crate::generate::check_tokens;
use crate::model::Transformer;

/// Mean log-probability of each solution's tokens after `prompt` (prompt tokens masked out), as a
/// tensor that keeps the autodiff graph: `[solutions.len()]`. The rows run as one right-padded
/// batch; padding comes after every real position, so the causal mask keeps it out.
pub fn solution_mean_log_probs(model: &Transformer, prompt: &[u32], solutions: &[&[u32]]) -> Result<Tensor<1>, EngineError> {
    if prompt.is_empty() {
        return Err(EngineError::EmptyPrompt);
    }
    if solutions.iter().any(|s| s.is_empty()) {
        return Err(EngineError::EmptyContinuation);
    }
    check_tokens(prompt, model)?;
    for s in solutions {
        check_tokens(s, model)?;
    }
    let longest = solutions.iter().map(|s| s.len()).max().unwrap_or(0);
    let (p, b) = (prompt.len(), solutions.len());
    let total = p + longest;
    if total > model.config.context {
        return Err(EngineError::ContextOverflow { needed: total, context: model.config.context });
    }
    // The last token is never an input: nothing is predicted after it.
    let inputs = total - 1;
    let mut ids = Vec::with_capacity(b * inputs);
    let mut targets = Vec::with_capacity(b * longest);
    let mut mask = Vec::with_capacity(b * longest);
    for s in solutions {
        ids.extend(prompt.iter().chain(s.iter()).copied().chain(std::iter::repeat(0)).take(inputs));
        targets.extend((0..longest).map(|j| s.get(j).copied().unwrap_or(0) as i32));
        mask.extend((0..longest).map(|j| if j < s.len() { 1.0f32 } else { 0.0 }));
    }
    let device = &model.device;
    let mut cache = model.new_cache();
    let hidden = model.hidden(&ids, b, &mut cache);
    // Position p−1+j predicts solution token j.
    let logits = model.logits(hidden.narrow(1, p - 1, longest));
    let targets: Tensor<2, Int> = Tensor::from_data(TensorData::new(targets, [b, longest]), device);
    let mask: Tensor<2> = Tensor::from_data(TensorData::new(mask, [b, longest]), device);
    Ok(masked_mean_log_prob(logits, targets, mask))
}
