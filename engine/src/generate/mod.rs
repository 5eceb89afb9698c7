//! Prefill once, then decode N sequences as one batch sharing that prefix.

mod draw;
mod rng;
mod sampling;

use serde::{Deserialize, Serialize};

pub use draw::{RowDraw, StepLogits, draw, on_device as draws_on_device};
pub use rng::Rng;
pub use sampling::{SamplingParams, Shortlisted, argmax, sample, sample_shortlisted};

use crate::EngineError;
use crate::model::Transformer;
use crate::readback::to_vec;
use crate::tokenizer::Tokenizer;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GenerateOptions {
    pub max_tokens: usize,
    pub sampling: SamplingParams,
    /// Generation of a sequence ends when its text contains one of these (it is cut there).
    pub stop_strings: Vec<String>,
    /// Keep going past end-of-sequence tokens (as llama.cpp's `ignore_eos`).
    pub ignore_eos: bool,
    /// Record each drawn token's log-probability under the model's own distribution (before
    /// temperature, truncation or penalties) in `Generated::log_probs`: a verifier that is the
    /// generating model itself then needs no second forward pass.
    #[serde(default)]
    pub log_probs: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StopReason {
    EndOfSequence,
    StopString,
    MaxTokens,
    Cancelled,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Generated {
    pub tokens: Vec<u32>,
    pub text: String,
    pub stop: StopReason,
    /// `log p(tokens[j] | prompt, tokens[<j])` for every token, when the options asked for them;
    /// empty otherwise.
    #[serde(default)]
    pub log_probs: Vec<f32>,
}

/// One newly generated token of sequence `seq`, with the text it added.
#[derive(Debug, Clone)]
pub struct TokenEvent<'a> {
    pub seq: usize,
    pub token: u32,
    pub text: &'a str,
}

struct Sequence {
    tokens: Vec<u32>,
    log_probs: Vec<f32>,
    text: String,
    stop: Option<StopReason>,
    rng: Rng,
}

pub(crate) fn check_tokens(ids: &[u32], model: &Transformer) -> Result<(), EngineError> {
    let vocab = model.config.vocab;
    match ids.iter().find(|&&id| id as usize >= vocab) {
        Some(&id) => Err(EngineError::BadToken { id, vocab }),
        None => Ok(()),
    }
}

/// Samples `n` continuations of `prompt` together. `on_token` sees every token as it comes;
/// `cancelled` is polled once per step and ends all sequences when it returns true.
pub async fn generate(
    model: &Transformer,
    tokenizer: &Tokenizer,
    prompt: &[u32],
    n: usize,
    options: &GenerateOptions,
    on_token: &mut dyn FnMut(TokenEvent),
    cancelled: &dyn Fn() -> bool,
) -> Result<Vec<Generated>, EngineError> {
    continue_prompt(model, tokenizer, prompt, n, n, options, on_token, cancelled).await
}

/// `generate` of `n` samples plus, as one more row of the same batch, the greedy continuation
/// (its token events carry `seq == n`): one prefill and one decoding loop for both. Each sample
/// draws exactly what `generate` draws for it, and the greedy row computes what a batch of one
/// would.
pub async fn generate_with_greedy(
    model: &Transformer,
    tokenizer: &Tokenizer,
    prompt: &[u32],
    n: usize,
    options: &GenerateOptions,
    on_token: &mut dyn FnMut(TokenEvent),
    cancelled: &dyn Fn() -> bool,
) -> Result<(Vec<Generated>, Generated), EngineError> {
    let mut rows = continue_prompt(model, tokenizer, prompt, n + 1, n, options, on_token, cancelled).await?;
    let greedy = rows.pop().expect("the greedy row");
    Ok((rows, greedy))
}

/// `rows` continuations of one prompt, prefilled once: the first `sampled_rows` sample, the rest
/// decode greedily.
#[allow(clippy::too_many_arguments)]
async fn continue_prompt(
    model: &Transformer,
    tokenizer: &Tokenizer,
    prompt: &[u32],
    rows: usize,
    sampled_rows: usize,
    options: &GenerateOptions,
    on_token: &mut dyn FnMut(TokenEvent),
    cancelled: &dyn Fn() -> bool,
) -> Result<Vec<Generated>, EngineError> {
    check_prompt(prompt, options, model)?;
    let mut cache = model.new_cache();
    let first = to_vec(model.last_logits(prompt, 1, &mut cache)).await?;
    let logits: Vec<f32> = first.iter().copied().cycle().take(rows * model.config.vocab).collect();
    let cache = cache.expand_batch(rows);
    let prompts = vec![prompt; rows];
    decode(model, tokenizer, &prompts, cache, logits, options, sampled_rows, on_token, cancelled).await
}

/// Continues each of several different prompts once, all in one batch (row `i` of the result
/// belongs to `prompts[i]`; token events carry that index). Shorter prompts are left-padded and
/// the padding is masked out, so each row computes what it would alone.
pub async fn generate_each(
    model: &Transformer,
    tokenizer: &Tokenizer,
    prompts: &[Vec<u32>],
    options: &GenerateOptions,
    on_token: &mut dyn FnMut(TokenEvent),
    cancelled: &dyn Fn() -> bool,
) -> Result<Vec<Generated>, EngineError> {
    if prompts.is_empty() {
        return Ok(Vec::new());
    }
    for p in prompts {
        check_prompt(p, options, model)?;
    }
    let longest = prompts.iter().map(Vec::len).max().unwrap_or(0);
    check_prompt(&vec![0; longest], options, model)?;
    let padding: Vec<usize> = prompts.iter().map(|p| longest - p.len()).collect();
    let mut ids = Vec::with_capacity(prompts.len() * longest);
    for (p, &pad) in prompts.iter().zip(&padding) {
        // The filler is the row's own first token: any in-vocabulary id works, it is masked.
        ids.extend(std::iter::repeat_n(p[0], pad));
        ids.extend_from_slice(p);
    }
    let mut cache = model.new_padded_cache(padding);
    let logits = to_vec(model.last_logits(&ids, prompts.len(), &mut cache)).await?;
    let prompts: Vec<&[u32]> = prompts.iter().map(Vec::as_slice).collect();
    let n = prompts.len();
    decode(model, tokenizer, &prompts, cache, logits, options, n, on_token, cancelled).await
}

fn check_prompt(prompt: &[u32], options: &GenerateOptions, model: &Transformer) -> Result<(), EngineError> {
    if prompt.is_empty() {
        return Err(EngineError::EmptyPrompt);
    }
    check_tokens(prompt, model)?;
    let needed = prompt.len() + options.max_tokens;
    if needed > model.config.context {
        return Err(EngineError::ContextOverflow { needed, context: model.config.context });
    }
    Ok(())
}

/// The shared decoding loop: `logits` holds the next-token logits of every row after its prompt;
/// the first `sampled_rows` rows sample with `options.sampling`, the rest decode greedily.
#[allow(clippy::too_many_arguments)]
async fn decode(
    model: &Transformer,
    tokenizer: &Tokenizer,
    prompts: &[&[u32]],
    cache: crate::model::KvCache,
    logits: Vec<f32>,
    options: &GenerateOptions,
    sampled_rows: usize,
    on_token: &mut dyn FnMut(TokenEvent),
    cancelled: &dyn Fn() -> bool,
) -> Result<Vec<Generated>, EngineError> {
    let vocab = model.config.vocab;
    let n = prompts.len();
    let positions = cache.len() + options.max_tokens;
    let mut stepper = crate::step::Stepper::new(model, cache, positions);
    let on_device = draws_on_device(&model.device);
    let mut logits = StepLogits::Host(logits);
    let mut seqs: Vec<Sequence> = (0..n).map(|i| Sequence { tokens: Vec::new(), log_probs: Vec::new(), text: String::new(), stop: None, rng: Rng::new(options.sampling.seed, i as u64) }).collect();

    for step in 0..options.max_tokens {
        if cancelled() {
            for s in seqs.iter_mut().filter(|s| s.stop.is_none()) {
                s.stop = Some(StopReason::Cancelled);
            }
            break;
        }
        let greedy = SamplingParams::greedy();
        let rows = seqs
            .iter_mut()
            .enumerate()
            .map(|(i, seq)| {
                let params = if i < sampled_rows { &options.sampling } else { &greedy };
                // The history is only read by the repetition penalty; skip the copy when it is off.
                let history = if params.repetition_penalty != 1.0 { prompts[i].iter().chain(&seq.tokens).copied().collect() } else { Vec::new() };
                seq.stop.is_none().then_some(RowDraw { params, history, rng: &mut seq.rng })
            })
            .collect();
        let drawn = draw(logits, vocab, rows, options.log_probs).await?;
        for (i, (seq, drawn)) in seqs.iter_mut().zip(drawn).enumerate() {
            let Some((token, log_prob)) = drawn else { continue };
            seq.tokens.push(token);
            if options.log_probs {
                seq.log_probs.push(log_prob);
            }
            if !options.ignore_eos && tokenizer.is_stop(token) {
                seq.stop = Some(StopReason::EndOfSequence);
                continue;
            }
            let text = tokenizer.decode(&seq.tokens)?;
            // A token that ends inside a multi-byte character decodes to U+FFFD; wait for the rest.
            if text.ends_with('\u{FFFD}') && step + 1 < options.max_tokens {
                continue;
            }
            let streamed = seq.text.len();
            seq.text = text;
            if let Some(cut) = options.stop_strings.iter().filter_map(|s| seq.text.find(s.as_str())).min() {
                seq.text.truncate(cut);
                seq.stop = Some(StopReason::StopString);
            }
            // Only text that survives a stop-string cut is streamed.
            let added = seq.text.get(streamed..).unwrap_or("");
            on_token(TokenEvent { seq: i, token, text: added });
        }
        if seqs.iter().all(|s| s.stop.is_some()) || step + 1 == options.max_tokens {
            break;
        }
        // Finished sequences keep decoding their last token so the batch stays rectangular.
        let next: Vec<u32> = seqs.iter().zip(prompts).map(|(s, p)| *s.tokens.last().unwrap_or(&p[p.len() - 1])).collect();
        let out = stepper.forward(model, &next);
        logits = if on_device { StepLogits::Device(out) } else { StepLogits::Host(to_vec(out).await?) };
    }

    Ok(seqs.into_iter().map(|s| Generated { text: s.text, stop: s.stop.unwrap_or(StopReason::MaxTokens), tokens: s.tokens, log_probs: s.log_probs }).collect())
}
