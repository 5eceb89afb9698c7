//! Speed measurements shared by the native `cotnpot bench` and the page's benchmark mode.
//! Clock and memory readings come from the caller, which knows its platform.

use serde::Serialize;

use crate::generate::argmax;
use crate::model::Transformer;
use crate::readback::to_vec;
use crate::score::score;
use crate::EngineError;

#[derive(Debug, Clone, Serialize)]
pub struct Speeds {
    pub prefill_tok_s: f64,
    pub decode_tok_s_batch1: f64,
    pub decode_tok_s_batch8: f64,
    pub score_8x256_s: f64,
}

/// Deterministic pseudo-text token ids (avoiding the first 256 ids, where specials often live).
fn token_ids(n: usize, vocab: usize, salt: u64) -> Vec<u32> {
    let mut rng = crate::generate::Rng::new(0xBE7C, salt);
    (0..n).map(|_| 256 + (rng.next_u64() % (vocab as u64 - 256)) as u32).collect()
}

async fn decode_rate(model: &Transformer, batch: usize, steps: usize, now: &dyn Fn() -> f64) -> Result<f64, EngineError> {
    let mut cache = model.new_cache();
    let prompt = token_ids(32, model.config.vocab, 1);
    let logits = to_vec(model.last_logits(&prompt, 1, &mut cache)).await?;
    let mut cache = cache.expand_batch(batch);
    let mut next = vec![argmax(&logits); batch];
    let start = now();
    for _ in 0..steps {
        let logits = to_vec(model.last_logits(&next, batch, &mut cache)).await?;
        let vocab = model.config.vocab;
        next = (0..batch).map(|b| argmax(&logits[b * vocab..(b + 1) * vocab])).collect();
    }
    Ok((batch * steps) as f64 / (now() - start))
}

/// `now` returns seconds from any fixed origin.
pub async fn measure(model: &Transformer, decode_steps: usize, now: &dyn Fn() -> f64) -> Result<Speeds, EngineError> {
    let vocab = model.config.vocab;
    let prompt = token_ids(512, vocab, 2);
    let start = now();
    let mut cache = model.new_cache();
    to_vec(model.last_logits(&prompt, 1, &mut cache)).await?;
    let prefill_tok_s = 512.0 / (now() - start);

    let decode_tok_s_batch1 = decode_rate(model, 1, decode_steps, now).await?;
    let decode_tok_s_batch8 = decode_rate(model, 8, decode_steps, now).await?;

    let question = token_ids(64, vocab, 3);
    let continuations: Vec<Vec<u32>> = (0..8).map(|i| token_ids(256, vocab, 10 + i)).collect();
    let start = now();
    score(model, &question, &continuations).await?;
    let score_8x256_s = now() - start;

    Ok(Speeds { prefill_tok_s, decode_tok_s_batch1, decode_tok_s_batch8, score_8x256_s })
}
