//! The trained verifier on the real SmolLM2 weights: the training objective's log-probs are the
//! scorer's, and an adapter file changes scores only as much as its matrices say.
#![cfg(feature = "train")]

use burn::tensor::{Device, Tensor, TensorData};
use cotnpot_engine::LanguageModel;
use cotnpot_engine::lora::{Adapter, BaseModel, LoraConfig, LoraTarget};
use cotnpot_engine::quant::CpuActivations;
use cotnpot_engine::score::score;
use cotnpot_engine::train::solution_mean_log_probs;

use crate::common::*;

fn mean(v: &[f32]) -> f64 {
    v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64
}

#[test]
fn training_log_probs_equal_the_scorer_on_real_weights_with_and_without_an_adapter() {
    let mut lm = LanguageModel::load(&model_file(SMOLLM), None, &Device::flex()).unwrap();
    // The training path multiplies exactly (its weights expand to f32); so must the scorer here.
    lm.model.set_cpu_activations(CpuActivations::F32);
    let prompt = lm.tokenizer.encode(&lm.chat_prompt(None, "What is 12 times 7?").unwrap()).unwrap();
    let chosen = lm.tokenizer.encode_plain("12 times 7 is 84, so the answer is \\boxed{84}.").unwrap();
    let rejected = lm.tokenizer.encode_plain("The answer is \\boxed{74}.").unwrap();

    let base = LoraConfig { rank: 4, alpha: 8.0, targets: vec![LoraTarget::Q, LoraTarget::V, LoraTarget::Down] };
    let identity = BaseModel { repo: String::new(), file: SMOLLM.into(), sha256: String::new(), arch: "llama".into() };
    let mut adapter = Adapter::init(base, identity, &lm.model.config, 0, &lm.model.device);
    // A non-zero B, so the adapter changes the model.
    for (i, w) in adapter.weights.iter_mut().enumerate() {
        let [r, c] = w.b.dims();
        let v: Vec<f32> = (0..r * c).map(|j| ((i * 31 + j * 17) % 13) as f32 * 1e-3 - 6e-3).collect();
        w.b = Tensor::from_data(TensorData::new(v, [r, c]), &lm.model.device);
    }

    let mut scored = Vec::new();
    for with_adapter in [false, true] {
        if with_adapter {
            adapter.attach(&mut lm.model).unwrap();
        }
        let by_scorer = pollster::block_on(score(&lm.model, &prompt, &[chosen.clone(), rejected.clone()])).unwrap();
        // The training path: the adapter's matrices as autodiff leaves, so the quantized weights
        // take the graph-preserving path.
        let mut tracked = adapter.clone();
        for w in &mut tracked.weights {
            w.a = w.a.clone().autodiff().require_grad();
            w.b = w.b.clone().autodiff().require_grad();
        }
        let mut model = lm.model.clone();
        if with_adapter {
            tracked.attach(&mut model).unwrap();
        }
        let by_training = solution_mean_log_probs(&model, &prompt, &[&chosen, &rejected]).unwrap();
        let by_training: Vec<f32> = by_training.without_autodiff().into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
        for k in 0..2 {
            let diff = (mean(&by_scorer[k]) - by_training[k] as f64).abs();
            println!("adapter {with_adapter} solution {k}: scorer {:.5}, training {:.5}", mean(&by_scorer[k]), by_training[k]);
            assert!(diff < 1e-4, "adapter {with_adapter}, solution {k}: {diff}");
        }
        scored.push(by_scorer);
    }
    let change = (mean(&scored[0][0]) - mean(&scored[1][0])).abs();
    assert!(change > 1e-3, "the adapter changed the score by only {change}");

    // Saved and read back, it scores the same.
    let bytes = pollster::block_on(adapter.to_safetensors()).unwrap();
    let read = Adapter::from_safetensors(&bytes, &lm.model.device).unwrap();
    read.attach(&mut lm.model).unwrap();
    let again = pollster::block_on(score(&lm.model, &prompt, &[chosen.clone()])).unwrap();
    assert_eq!(again[0], scored[1][0]);
}
