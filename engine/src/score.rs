//! Teacher-forced log-probabilities of continuations given a prompt: the verifier's primitive.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor, TensorData};

use crate::EngineError;
use crate::generate::check_tokens;
use crate::model::Transformer;
use crate::readback::to_vec;

/// Positions whose logits are turned into log-probs at once, bounding memory to ~16M floats.
fn rows_per_chunk(vocab: usize) -> usize {
    ((1usize << 24) / vocab).max(1)
}

/// For each continuation, `log p(token_j | prompt, token_<j)` for every one of its tokens.
/// The prompt is run once; all continuations then go through the model as one batch.
pub async fn score(model: &Transformer, prompt: &[u32], continuations: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, EngineError> {
    if prompt.is_empty() {
        return Err(EngineError::EmptyPrompt);
    }
    check_tokens(prompt, model)?;
    for c in continuations {
        check_tokens(c, model)?;
    }
    let longest = continuations.iter().map(Vec::len).max().unwrap_or(0);
    if longest == 0 {
        return Ok(continuations.iter().map(|_| Vec::new()).collect());
    }
    let needed = prompt.len() + longest;
    if needed > model.config.context {
        return Err(EngineError::ContextOverflow { needed, context: model.config.context });
    }
    let device = &model.device;
    let m = continuations.len();
    let d = model.config.d_model;

    let mut cache = model.new_cache();
    let prompt_hidden = model.hidden(prompt, 1, &mut cache);
    let last_prompt = prompt_hidden.narrow(1, prompt.len() - 1, 1).repeat_dim(0, m);

    // Inputs are each continuation minus its last token, right-padded; padding sits after every
    // real position, so the causal mask keeps it from touching them.
    let inputs = longest - 1;
    let hidden = if inputs > 0 {
        let mut cache = cache.expand_batch(m);
        let mut ids = Vec::with_capacity(m * inputs);
        for c in continuations {
            ids.extend((0..inputs).map(|j| *c.get(j).unwrap_or(&0)));
        }
        let h = model.hidden(&ids, m, &mut cache);
        Tensor::cat(vec![last_prompt, h], 1)
    } else {
        last_prompt
    };

    // Targets: continuation tokens, padded with 0 (their log-probs are dropped below).
    let mut targets = Vec::with_capacity(m * longest);
    for c in continuations {
        targets.extend((0..longest).map(|j| *c.get(j).unwrap_or(&0) as i32));
    }
    let flat_hidden = hidden.reshape([m * longest, d]);
    let flat_targets: Tensor<1, Int> = Tensor::from_data(TensorData::new(targets, [m * longest]), device);
    let chunk = rows_per_chunk(model.config.vocab);
    let mut log_probs = Vec::with_capacity(m * longest);
    for start in (0..m * longest).step_by(chunk) {
        let len = chunk.min(m * longest - start);
        let h = flat_hidden.clone().narrow(0, start, len).reshape([1, len, d]);
        let logits = model.logits(h).reshape([len, model.config.vocab]);
        let picked = log_softmax(logits, 1).gather(1, flat_targets.clone().narrow(0, start, len).reshape([len, 1]));
        log_probs.extend(to_vec(picked).await?);
    }
    Ok(continuations
        .iter()
        .enumerate()
        .map(|(i, c)| log_probs[i * longest..i * longest + c.len()].to_vec())
        .collect())
}
