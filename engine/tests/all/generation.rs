//! Generation and scoring entry points on SmolLM2 (CPU backend): reproducibility, stop conditions,
//! cancellation, typed errors, and log-probs equal to a plain forward pass.

use std::cell::Cell;

use cotnpot_engine::generate::{GenerateOptions, SamplingParams, StopReason, generate, generate_each, generate_with_greedy};
use cotnpot_engine::quant::CpuActivations;
use cotnpot_engine::score::score;
use cotnpot_engine::{Device, EngineError, LanguageModel};

use crate::common::{SMOLLM, model_file};

fn smollm() -> LanguageModel {
    LanguageModel::load(&model_file(SMOLLM), None, &Device::flex()).unwrap()
}

fn sampled(seed: u64, max_tokens: usize) -> GenerateOptions {
    GenerateOptions {
        max_tokens,
        sampling: SamplingParams { temperature: 0.9, seed, ..SamplingParams::default() },
        stop_strings: vec![],
        ignore_eos: true,
        log_probs: false,
    }
}

#[test]
fn sampling_is_seeded_and_rows_differ() {
    let lm = smollm();
    let prompt = lm.tokenizer.encode(&lm.chat_prompt(None, "Tell me a story about a cat.").unwrap()).unwrap();
    let run = |seed| pollster::block_on(generate(&lm.model, &lm.tokenizer, &prompt, 3, &sampled(seed, 12), &mut |_| {}, &|| false)).unwrap();
    let (a, b, c) = (run(5), run(5), run(6));
    let tokens = |g: &Vec<cotnpot_engine::generate::Generated>| g.iter().map(|s| s.tokens.clone()).collect::<Vec<_>>();
    assert_eq!(tokens(&a), tokens(&b), "same seed, same tokens");
    assert_ne!(tokens(&a), tokens(&c), "another seed, other tokens");
    assert!(a[0].tokens != a[1].tokens || a[1].tokens != a[2].tokens, "the batch's rows are independent samples");
}

#[test]
fn streaming_stop_strings_and_cancellation() {
    let lm = smollm();
    let prompt = lm.tokenizer.encode("1, 2, 3, 4, 5,").unwrap();

    let mut streamed = vec![String::new(); 2];
    let options = GenerateOptions { stop_strings: vec![",".into()], ..sampled(0, 40) };
    let options = GenerateOptions { sampling: SamplingParams::greedy(), ..options };
    let out = pollster::block_on(generate(&lm.model, &lm.tokenizer, &prompt, 2, &options, &mut |e| streamed[e.seq].push_str(e.text), &|| false)).unwrap();
    for (g, s) in out.iter().zip(&streamed) {
        assert_eq!(g.stop, StopReason::StopString, "{:?}", g.text);
        assert!(!g.text.is_empty() && !g.text.contains(','), "{:?}", g.text);
        assert_eq!(s, &g.text, "the stream is exactly the final text");
    }

    let steps = Cell::new(0);
    let out = pollster::block_on(generate(&lm.model, &lm.tokenizer, &prompt, 2, &sampled(1, 40), &mut |_| {}, &|| {
        steps.set(steps.get() + 1);
        steps.get() > 3
    }))
    .unwrap();
    assert!(out.iter().all(|g| g.stop == StopReason::Cancelled && g.tokens.len() == 3), "{out:?}");
}

#[test]
fn prompts_of_different_lengths_batch_as_if_alone() {
    let mut lm = smollm();
    // Exact products: padding must change nothing, which only exact arithmetic shows to 1e-3.
    // Products that round activations to integers can round a value a hair's breadth from a
    // rounding boundary differently in the two runs (covered by the parity tests' bound).
    lm.model.set_cpu_activations(CpuActivations::F32);
    let prompts: Vec<Vec<u32>> = ["What is 2 + 3?", "Write a haiku about the sea, then explain its imagery.", "Hi"]
        .iter()
        .map(|q| lm.tokenizer.encode(&lm.chat_prompt(None, q).unwrap()).unwrap())
        .collect();
    assert!(prompts[1].len() > prompts[2].len() + 5, "the rows need real padding: {:?}", prompts.iter().map(Vec::len).collect::<Vec<_>>());
    let options = GenerateOptions { sampling: SamplingParams::greedy(), ..sampled(0, 16) };
    let batched = pollster::block_on(generate_each(&lm.model, &lm.tokenizer, &prompts, &options, &mut |_| {}, &|| false)).unwrap();
    for (prompt, got) in prompts.iter().zip(&batched) {
        let alone = pollster::block_on(generate(&lm.model, &lm.tokenizer, prompt, 1, &options, &mut |_| {}, &|| false)).unwrap();
        assert_eq!(got.tokens, alone[0].tokens, "{:?} vs {:?}", got.text, alone[0].text);
    }

    // The first-step logits, not just the argmax, agree with the unpadded forward.
    let longest = prompts.iter().map(Vec::len).max().unwrap();
    let padding: Vec<usize> = prompts.iter().map(|p| longest - p.len()).collect();
    let ids: Vec<u32> = prompts.iter().zip(&padding).flat_map(|(p, &pad)| std::iter::repeat_n(7, pad).chain(p.iter().copied())).collect();
    let mut cache = lm.model.new_padded_cache(padding);
    let padded = lm.model.last_logits(&ids, prompts.len(), &mut cache).into_data().try_into_vec::<f32>().unwrap();
    let vocab = lm.model.config.vocab;
    for (i, prompt) in prompts.iter().enumerate() {
        let mut cache = lm.model.new_cache();
        let alone = lm.model.last_logits(prompt, 1, &mut cache).into_data().try_into_vec::<f32>().unwrap();
        let diff = alone.iter().zip(&padded[i * vocab..(i + 1) * vocab]).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(diff < 1e-3, "row {i}: max logit difference {diff}");
    }
}

#[test]
fn bad_requests_are_typed_errors() {
    let lm = smollm();
    let run = |prompt: &[u32], max_tokens| pollster::block_on(generate(&lm.model, &lm.tokenizer, prompt, 1, &sampled(0, max_tokens), &mut |_| {}, &|| false));
    assert!(matches!(run(&[], 4), Err(EngineError::EmptyPrompt)));
    assert!(matches!(run(&[1, 49152], 4), Err(EngineError::BadToken { id: 49152, .. })));
    assert!(matches!(run(&[1, 2], 1 << 20), Err(EngineError::ContextOverflow { .. })));
    assert!(matches!(pollster::block_on(score(&lm.model, &[1], &[vec![u32::MAX]])), Err(EngineError::BadToken { .. })));
}

#[test]
fn scores_equal_log_softmax_of_a_plain_forward() {
    let mut lm = smollm();
    // A short prompt takes the few-row product, a long sequence the expanded one; with exact
    // products on both, the scores must equal the forward pass's to rounding.
    lm.model.set_cpu_activations(CpuActivations::F32);
    let prompt = lm.tokenizer.encode("Question: What is 6 times 7?\nAnswer:").unwrap();
    let continuations: Vec<Vec<u32>> = [" 42", " The answer is 42.", " 13, because six and seven make thirteen"]
        .iter()
        .map(|t| lm.tokenizer.encode_plain(t).unwrap())
        .collect();
    let batched = pollster::block_on(score(&lm.model, &prompt, &continuations)).unwrap();
    for (c, got) in continuations.iter().zip(&batched) {
        let full: Vec<u32> = prompt.iter().chain(c).copied().collect();
        let mut cache = lm.model.new_cache();
        let logits = lm.model.logits(lm.model.hidden(&full, 1, &mut cache)).into_data().try_into_vec::<f32>().unwrap();
        let vocab = lm.model.config.vocab;
        assert_eq!(got.len(), c.len());
        for (j, &token) in c.iter().enumerate() {
            let row = &logits[(prompt.len() + j - 1) * vocab..(prompt.len() + j) * vocab];
            let max = row.iter().copied().fold(f32::MIN, f32::max);
            let log_z = max + row.iter().map(|l| (l - max).exp()).sum::<f32>().ln();
            let want = row[token as usize] - log_z;
            assert!((got[j] - want).abs() < 1e-3, "token {j}: {} vs {want}", got[j]);
        }
    }
}

#[test]
fn greedy_row_in_the_sampling_batch_changes_nothing() {
    let lm = smollm();
    let prompt = lm.tokenizer.encode(&lm.chat_prompt(None, "Tell me a story about a cat.").unwrap()).unwrap();
    let options = sampled(3, 16);
    let mut streamed = vec![0usize; 4];
    let (samples, greedy) = pollster::block_on(generate_with_greedy(&lm.model, &lm.tokenizer, &prompt, 3, &options, &mut |e| streamed[e.seq] += 1, &|| false)).unwrap();
    let alone = pollster::block_on(generate(&lm.model, &lm.tokenizer, &prompt, 3, &options, &mut |_| {}, &|| false)).unwrap();
    let greedy_options = GenerateOptions { sampling: SamplingParams::greedy(), ..options.clone() };
    let greedy_alone = pollster::block_on(generate(&lm.model, &lm.tokenizer, &prompt, 1, &greedy_options, &mut |_| {}, &|| false)).unwrap();
    assert_eq!(samples.iter().map(|g| &g.tokens).collect::<Vec<_>>(), alone.iter().map(|g| &g.tokens).collect::<Vec<_>>());
    assert_eq!(greedy.tokens, greedy_alone[0].tokens);
    assert_ne!(greedy.tokens, samples[0].tokens, "the greedy row does not sample");
    assert_eq!(streamed, [16, 16, 16, 16], "every row streams its tokens under its own index");
}

/// The log-probs recorded while drawing are what scoring the drawn tokens computes (the verifier
/// reads them instead of a second pass when it is the generating model), for sampled rows, with
/// a repetition penalty (recorded before it), and for the greedy row.
#[test]
fn recorded_log_probs_equal_scoring_the_drawn_tokens() {
    let lm = smollm();
    let prompt = lm.tokenizer.encode(&lm.chat_prompt(None, "What is 12 times 7?").unwrap()).unwrap();
    let plain = GenerateOptions { log_probs: true, ..sampled(11, 24) };
    let penalised = GenerateOptions { sampling: SamplingParams { repetition_penalty: 1.3, ..plain.sampling.clone() }, ..plain.clone() };
    for options in [plain, penalised] {
        let (samples, greedy) = pollster::block_on(generate_with_greedy(&lm.model, &lm.tokenizer, &prompt, 2, &options, &mut |_| {}, &|| false)).unwrap();
        let rows: Vec<_> = samples.into_iter().chain([greedy]).collect();
        let scored = pollster::block_on(score(&lm.model, &prompt, &rows.iter().map(|g| g.tokens.clone()).collect::<Vec<_>>())).unwrap();
        let mut largest = 0f32;
        for (g, want) in rows.iter().zip(&scored) {
            assert_eq!(g.log_probs.len(), g.tokens.len());
            for (j, (got, want)) in g.log_probs.iter().zip(want).enumerate() {
                assert!((got - want).abs() < 0.02, "token {j}: recorded {got}, scored {want}");
                largest = largest.max((got - want).abs());
            }
        }
        eprintln!("recorded vs scored log-probs, repetition penalty {}: max |difference| {largest}", options.sampling.repetition_penalty);
    }
    let unrecorded = pollster::block_on(generate(&lm.model, &lm.tokenizer, &prompt, 1, &sampled(11, 4), &mut |_| {}, &|| false)).unwrap();
    assert!(unrecorded[0].log_probs.is_empty(), "recorded only when asked");
}
