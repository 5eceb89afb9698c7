//! Sampling on the device (wgpu): each row shortlisted by the shortlist kernel, the token drawn
//! on the host from the shortlist, against the host's draw from the whole row with the same
//! generators, for every sampler option.

use burn::tensor::{Tensor, TensorData};
use cotnpot_engine::generate::{Rng, RowDraw, SamplingParams, StepLogits, draw};
use cotnpot_engine::step::shortlist::{self, Request};

use crate::parity::wgpu_device;

const ROWS: usize = 4;
/// Not a multiple of the kernel's 256 invocations or of 32 (the history's words).
const VOCAB: usize = 50_003;

/// Rows shaped like a model's logits: a broad mass, a few peaks, repeated values (ties), and
/// in one trial a masked token (a row that is not all finite).
fn logits(trial: u64) -> Vec<f32> {
    let mut rng = Rng::new(trial, 9);
    let mut values: Vec<f32> = (0..ROWS * VOCAB).map(|_| (rng.next_f64() * 6.0 - 3.0) as f32).collect();
    for row in 0..ROWS {
        for p in 0..5 {
            values[row * VOCAB + (rng.next_u64() as usize % VOCAB)] = 8.0 + p as f32 * 0.5 + row as f32;
        }
        values[row * VOCAB + 7] = values[row * VOCAB + 11];
    }
    if trial == 2 {
        values[VOCAB + 3] = f32::NEG_INFINITY;
    }
    values
}

fn histories(trial: u64) -> Vec<Vec<u32>> {
    let mut rng = Rng::new(trial, 10);
    (0..ROWS).map(|_| (0..40).map(|_| (rng.next_u64() % VOCAB as u64) as u32).collect()).collect()
}

fn draws(logits: StepLogits, params: &SamplingParams, histories: &[Vec<u32>], seed: u64) -> Vec<(u32, f32)> {
    let mut rngs: Vec<Rng> = (0..ROWS).map(|i| Rng::new(seed, i as u64)).collect();
    let rows = rngs.iter_mut().zip(histories).map(|(rng, h)| Some(RowDraw { params, history: h.clone(), rng })).collect();
    pollster::block_on(draw(logits, VOCAB, rows, true)).unwrap().into_iter().map(Option::unwrap).collect()
}

#[test]
fn device_sampling_draws_what_host_sampling_draws() {
    let device = wgpu_device();
    let greedy = SamplingParams::greedy();
    let settings = [
        greedy.clone(),
        SamplingParams { repetition_penalty: 1.3, ..greedy.clone() },
        SamplingParams::default(),
        SamplingParams { top_k: 0, top_p: 0.9, min_p: 0.0, ..SamplingParams::default() },
        SamplingParams { top_k: 0, top_p: 1.0, min_p: 0.2, temperature: 1.0, ..SamplingParams::default() },
        SamplingParams { top_k: 10, repetition_penalty: 1.3, ..SamplingParams::default() },
        // More than the kernel shortlists: the host draws from the whole rows.
        SamplingParams { top_k: 5000, top_p: 0.999, min_p: 0.0, temperature: 2.0, ..SamplingParams::default() },
    ];
    for trial in 0..3 {
        let values = logits(trial);
        let histories = histories(trial);
        for (s, params) in settings.iter().enumerate() {
            for seed in 0..2 {
                let on_device = draws(StepLogits::Device(Tensor::<2>::from_data(TensorData::new(values.clone(), [ROWS, VOCAB]), &device)), params, &histories, seed);
                let on_host = draws(StepLogits::Host(values.clone()), params, &histories, seed);
                for (row, (d, h)) in on_device.iter().zip(&on_host).enumerate() {
                    assert_eq!(d.0, h.0, "trial {trial}, setting {s}, seed {seed}, row {row}: token");
                    assert!((d.1 - h.1).abs() < 1e-4, "trial {trial}, setting {s}, row {row}: log-probability {} vs {}", d.1, h.1);
                }
            }
        }
    }
}

/// The kernel's shortlist of a row is the set the host finds: every (penalised) logit at or
/// above a threshold, between `wanted` and `capacity` of them, ties included.
#[test]
fn the_shortlist_holds_every_logit_above_its_threshold() {
    let values = logits(0);
    let histories = histories(0);
    let request = Request { wanted: 40, capacity: 144, penalty: 1.3, temperature: 0.7 };
    let words = VOCAB.div_ceil(32);
    let mut bits = vec![0u32; ROWS * words];
    for (row, h) in histories.iter().enumerate() {
        for &id in h {
            bits[row * words + id as usize / 32] |= 1 << (id % 32);
        }
    }
    let out = shortlist::shortlist(&Tensor::<2>::from_data(TensorData::new(values.clone(), [ROWS, VOCAB]), &wgpu_device()), &bits, request);
    let rows = shortlist::rows(&out.into_data().try_into_vec::<f32>().unwrap(), VOCAB, request.capacity);
    for (row, short) in rows.iter().enumerate() {
        assert!(short.complete, "row {row}");
        let held = short.candidates.len();
        assert!((request.wanted..=request.capacity).contains(&held), "row {row}: {held} candidates");
        let penalised = |i: usize| {
            let l = values[row * VOCAB + i];
            if !histories[row].contains(&(i as u32)) {
                l
            } else if l > 0.0 {
                l / 1.3
            } else {
                l * 1.3
            }
        };
        let lowest = short.candidates.iter().map(|c| penalised(c.0 as usize)).fold(f32::INFINITY, f32::min);
        let mut want: Vec<u32> = (0..VOCAB).filter(|&i| penalised(i) >= lowest).map(|i| i as u32).collect();
        let mut got: Vec<u32> = short.candidates.iter().map(|c| c.0).collect();
        want.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, want, "row {row}: the candidates are the logits at or above the lowest of them");
        for &(id, raw) in &short.candidates {
            assert_eq!(raw, values[row * VOCAB + id as usize], "row {row}: the raw logit of {id}");
        }
        let log_z = {
            let r = &values[row * VOCAB..(row + 1) * VOCAB];
            let max = r.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            max as f64 + r.iter().map(|&l| ((l - max) as f64).exp()).sum::<f64>().ln()
        };
        assert!((short.log_z as f64 - log_z).abs() < 1e-4, "row {row}: ln Σ e^l {} vs {log_z}", short.log_z);
    }
}
