//! The fused decode step (wgpu), recorded once and replayed, against the layered forward pass on
//! the same device: the same logits, step after step, for a left-padded batch of four prompts
//! of different lengths, with a cache too small at the start (so the step grows it, and records
//! itself again, as it goes).

use cotnpot_engine::LanguageModel;
use cotnpot_engine::step::{DecodeStep, Stepper};

use crate::common::{QWEN, SMOLLM, model_file};
use crate::parity::wgpu_device;

fn values(t: burn::tensor::Tensor<2>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec().unwrap()
}

fn fused_step_equals_layered(model_name: &str, steps: usize) {
    let lm = LanguageModel::load(&model_file(model_name), None, &wgpu_device()).unwrap();
    let model = &lm.model;
    let texts = ["Tell me a story.", "What is 17 times 23? Think step by step.", "def fib(n):", "The capital of France is Paris, and the capital of Italy is"];
    let prompts: Vec<Vec<u32>> = texts.iter().map(|t| lm.tokenizer.encode(t).unwrap()).collect();
    let longest = prompts.iter().map(Vec::len).max().unwrap();
    let padding: Vec<usize> = prompts.iter().map(|p| longest - p.len()).collect();
    assert!(padding.iter().filter(|&&p| p > 0).count() >= 2, "ragged prompts");
    let ids: Vec<u32> = prompts.iter().zip(&padding).flat_map(|(p, &pad)| std::iter::repeat_n(p[0], pad).chain(p.iter().copied())).collect();
    let mut cache = model.new_padded_cache(padding);
    let first = values(model.last_logits(&ids, prompts.len(), &mut cache));

    // Room for 5 more positions: the step must grow its cache several times.
    let mut fused = DecodeStep::new(model, &cache, cache.len() + 5).expect("the fused step runs on wgpu for a quantized model");
    let mut layered = Stepper::Layered(cache);
    let vocab = model.config.vocab;
    let mut next: Vec<u32> = first.chunks(vocab).map(cotnpot_engine::generate::argmax).collect();
    let mut worst = 0f32;
    for step in 0..steps {
        let want = values(layered.forward(model, &next));
        let got = values(fused.forward(&next));
        for (row, (g, w)) in got.chunks(vocab).zip(want.chunks(vocab)).enumerate() {
            let scale = w.iter().fold(1f32, |m, v| m.max(v.abs()));
            let diff = g.iter().zip(w).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            worst = worst.max(diff / scale);
            assert!(diff <= 2e-4 * scale, "{model_name} step {step} row {row}: max |logit diff| {diff} (largest logit {scale})");
            assert_eq!(cotnpot_engine::generate::argmax(g), cotnpot_engine::generate::argmax(w), "{model_name} step {step} row {row}: another greedy token");
        }
        next = want.chunks(vocab).map(cotnpot_engine::generate::argmax).collect();
        // Natively every step after the first replays the recorded one (re-recorded after the
        // cache grows).
        assert!(fused.replays(), "{model_name} step {step}: the step was not recorded");
    }
    eprintln!("{model_name}: fused step vs layered, {steps} steps × 4 rows: max relative logit diff {worst:.2e}");
}

#[test]
fn fused_step_equals_layered_smollm2() {
    fused_step_equals_layered(SMOLLM, 64);
}

#[test]
fn fused_step_equals_layered_qwen2() {
    fused_step_equals_layered(QWEN, 4);
}
