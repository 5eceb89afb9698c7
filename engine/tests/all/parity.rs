//! The model against llama.cpp on real weights: top-5 tokens at every position, the largest
//! logit difference, and 64-token greedy continuations (decoded as a batch of two).

use burn::tensor::{Int, Tensor, TensorData};
use cotnpot_engine::generate::{GenerateOptions, SamplingParams, generate};
use cotnpot_engine::{Device, LanguageModel};

use crate::common::{QWEN, SMOLLM, fixture, model_file};

/// Largest |ours − llama.cpp| allowed over the fixture's top-20 logits. llama.cpp's CPU matmuls
/// quantize activations to 8 bits (Q8_0/Q8_K) before the dot product; we multiply in f32. That
/// rounding alone moves logits by a few tenths on these models (see BENCHMARKS.md for the
/// observed maxima), while a real bug (wrong RoPE pairing, a missing bias, a transposed
/// weight) moves them by whole units and reorders the top-5.
const MAX_LOGIT_DIFF: f32 = 1.0;

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

fn all_logits(lm: &LanguageModel, prompt: &[u32]) -> Vec<Vec<f32>> {
    let mut cache = lm.model.new_cache();
    let values: Vec<i32> = prompt.iter().map(|&i| i as i32).collect();
    let tokens: Tensor<2, Int> = Tensor::from_data(TensorData::new(values, [1, prompt.len()]), &lm.model.device);
    let logits = lm.model.logits(lm.model.hidden(tokens, &mut cache));
    let flat = logits.into_data().try_into_vec::<f32>().unwrap();
    flat.chunks(lm.model.config.vocab).map(<[f32]>::to_vec).collect()
}

fn top_k(row: &[f32], k: usize) -> Vec<u32> {
    let mut idx: Vec<u32> = (0..row.len() as u32).collect();
    idx.sort_by(|&a, &b| row[b as usize].total_cmp(&row[a as usize]).then(a.cmp(&b)));
    idx.truncate(k);
    idx
}

fn check(model: &str, fixture_name: &str, device: Device) {
    let lm = LanguageModel::load(&model_file(model), None, &device).unwrap();
    let golden = fixture(fixture_name);
    let prompts = golden["prompts"].as_array().unwrap();
    let mut max_diff = 0f32;
    let mut greedy_same = 0;
    let mut report = Vec::new();
    for p in prompts {
        let prompt = ids(&p["ids"]);
        let ours = all_logits(&lm, &prompt);
        for (pos, (row, want)) in ours.iter().zip(p["top"].as_array().unwrap()).enumerate() {
            let want_ids = ids(&want["ids"]);
            let mut ours5 = top_k(row, 5);
            let mut want5 = want_ids[..5].to_vec();
            ours5.sort_unstable();
            want5.sort_unstable();
            assert_eq!(ours5, want5, "{model}: top-5 differ at position {pos} of {:?}", p["text"]);
            for (id, l) in want_ids.iter().zip(want["logits"].as_array().unwrap()) {
                max_diff = max_diff.max((row[*id as usize] - l.as_f64().unwrap() as f32).abs());
            }
        }

        let options = GenerateOptions {
            max_tokens: 64,
            sampling: SamplingParams::greedy(),
            stop_strings: vec![],
            ignore_eos: true,
        };
        let out = pollster::block_on(generate(&lm.model, &lm.tokenizer, &prompt, 2, &options, &mut |_| {}, &|| false)).unwrap();
        assert_eq!(out[0].tokens, out[1].tokens, "{model}: the two rows of a greedy batch differ");
        let want = ids(&p["greedy"]);
        if out[0].tokens == want {
            greedy_same += 1;
        } else {
            let at = out[0].tokens.iter().zip(&want).position(|(a, b)| a != b).unwrap_or(0);
            report.push(format!("{:?}: first divergence at token {at}", p["text"]));
        }
    }
    eprintln!("{model}: max |logit diff| {max_diff:.4}; greedy identical {greedy_same}/{} {report:?}", prompts.len());
    assert!(max_diff <= MAX_LOGIT_DIFF, "{model}: max |logit diff| {max_diff}");
    assert!(greedy_same * 10 >= prompts.len() * 9, "{model}: greedy identical for only {greedy_same}/{}: {report:?}", prompts.len());
}

#[test]
fn smollm2_matches_llama_cpp_on_cpu() {
    check(SMOLLM, "smollm2.json", Device::flex());
}

#[test]
fn qwen2_matches_llama_cpp_on_cpu() {
    check(QWEN, "qwen2.json", Device::flex());
}
