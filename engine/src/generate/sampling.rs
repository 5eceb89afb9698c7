//! Choosing the next token from logits, on the host after the read-back.

use serde::{Deserialize, Serialize};

use super::rng::Rng;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplingParams {
    /// 0 means greedy.
    pub temperature: f32,
    /// 0 disables.
    pub top_k: usize,
    /// 1 disables.
    pub top_p: f32,
    /// 0 disables.
    pub min_p: f32,
    /// 1 disables; llama.cpp's form: positive logits divided, negative multiplied.
    pub repetition_penalty: f32,
    pub seed: u64,
}

impl SamplingParams {
    pub fn greedy() -> Self {
        Self { temperature: 0.0, top_k: 0, top_p: 1.0, min_p: 0.0, repetition_penalty: 1.0, seed: 0 }
    }

    pub fn is_greedy(&self) -> bool {
        self.temperature <= 0.0
    }
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self { temperature: 0.7, top_k: 40, top_p: 0.95, min_p: 0.05, repetition_penalty: 1.0, seed: 0 }
    }
}

/// Index of the largest value; the lowest index wins ties.
pub fn argmax(values: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best as u32
}

pub fn apply_repetition_penalty(logits: &mut [f32], history: &[u32], penalty: f32) {
    if penalty == 1.0 {
        return;
    }
    let mut seen = history.to_vec();
    seen.sort_unstable();
    seen.dedup();
    for id in seen {
        if let Some(l) = logits.get_mut(id as usize) {
            *l = if *l > 0.0 { *l / penalty } else { *l * penalty };
        }
    }
}

/// One token from `logits` (modified in place by the penalty).
///
/// Candidates are ranked by logit (ties: lower id first); top-k, top-p and min-p each keep a prefix
/// of that ranking, and the token is drawn from the prefix in ranking order. Only the prefix
/// needs ordering, so the ranking is found by partial selection: a full sort of a 150 000-token
/// vocabulary, per sequence and step, cost more than a batch's forward pass on the CPU.
pub fn sample(logits: &mut [f32], history: &[u32], params: &SamplingParams, rng: &mut Rng) -> u32 {
    apply_repetition_penalty(logits, history, params.repetition_penalty);
    if params.is_greedy() {
        return argmax(logits);
    }
    let mut candidates: Vec<(u32, f32)> = logits
        .iter()
        .enumerate()
        .filter(|(_, l)| l.is_finite())
        .map(|(i, &l)| (i as u32, l / params.temperature))
        .collect();
    if candidates.is_empty() {
        return argmax(logits);
    }
    if params.top_k > 0 {
        rank_prefix(&mut candidates, params.top_k);
        candidates.truncate(params.top_k);
    }
    let max = candidates.iter().fold(f32::NEG_INFINITY, |m, c| m.max(c.1));
    let weight = |l: f32| ((l - max) as f64).exp();
    let total: f64 = candidates.iter().map(|&(_, l)| weight(l)).sum();

    // Rank a prefix long enough for top-p and min-p to end inside it: first a few hundred
    // candidates, all of them if that was too short.
    let mut ranked = RANKED_FIRST.min(candidates.len());
    let keep = loop {
        if params.top_k == 0 {
            rank_prefix(&mut candidates, ranked);
        }
        if let Some(keep) = kept(&candidates[..ranked], candidates.len(), params, total, weight) {
            break keep;
        }
        ranked = candidates.len();
    };
    let kept_total: f64 = candidates[..keep].iter().map(|&(_, l)| weight(l) / total).sum();
    let mut target = rng.next_f64() * kept_total;
    for &(id, l) in &candidates[..keep] {
        target -= weight(l) / total;
        if target <= 0.0 {
            return id;
        }
    }
    candidates[keep - 1].0
}

/// Candidates ranked before a full ranking is tried.
const RANKED_FIRST: usize = 512;

/// Puts the `n` best candidates first, in ranking order.
fn rank_prefix(candidates: &mut [(u32, f32)], n: usize) {
    let order = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    let n = n.min(candidates.len());
    if n < candidates.len() {
        candidates.select_nth_unstable_by(n, order);
    }
    candidates[..n].sort_unstable_by(order);
}

/// How many of the ranked candidates top-p and min-p keep, or `None` if that is not decided
/// within `ranked` (a prefix of `all` candidates).
fn kept(ranked: &[(u32, f32)], all: usize, params: &SamplingParams, total: f64, weight: impl Fn(f32) -> f64) -> Option<usize> {
    let probability = |i: usize| weight(ranked[i].1) / total;
    let mut keep = None;
    if params.top_p < 1.0 {
        let mut cumulative = 0.0;
        for i in 0..ranked.len() {
            cumulative += probability(i);
            if cumulative >= params.top_p as f64 {
                keep = Some(i + 1);
                break;
            }
        }
    }
    let keep = match keep {
        Some(keep) => keep,
        None if ranked.len() == all => all,
        None => return None,
    };
    if params.min_p > 0.0 {
        let floor = probability(0) * params.min_p as f64;
        let above = (0..keep).take_while(|&i| probability(i) >= floor).count();
        return Some(above.max(1));
    }
    Some(keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_first_maximum() {
        let mut logits = vec![0.5, 2.0, 2.0, -1.0];
        assert_eq!(sample(&mut logits, &[], &SamplingParams::greedy(), &mut Rng::new(0, 0)), 1);
    }

    #[test]
    fn top_k_one_is_greedy_at_any_temperature() {
        let params = SamplingParams { temperature: 5.0, top_k: 1, ..SamplingParams::default() };
        for seed in 0..20 {
            let mut logits = vec![0.1, 0.3, 3.0, 0.2];
            assert_eq!(sample(&mut logits, &[], &params, &mut Rng::new(seed, 0)), 2);
        }
    }

    #[test]
    fn min_p_drops_unlikely_tokens() {
        // p ∝ e^[10, 9.9, 0]: the last has p ≈ 2e-5 of the first, below min_p = 0.01.
        let params = SamplingParams { temperature: 1.0, top_k: 0, top_p: 1.0, min_p: 0.01, ..SamplingParams::default() };
        for seed in 0..200 {
            let mut logits = vec![10.0, 9.9, 0.0];
            assert_ne!(sample(&mut logits, &[], &params, &mut Rng::new(seed, 0)), 2);
        }
    }

    #[test]
    fn sampling_follows_the_distribution() {
        // p = softmax([ln 3, 0]) = [0.75, 0.25]
        let params = SamplingParams { temperature: 1.0, top_k: 0, top_p: 1.0, min_p: 0.0, ..SamplingParams::default() };
        let mut rng = Rng::new(7, 0);
        let firsts = (0..4000).filter(|_| sample(&mut vec![3f32.ln(), 0.0], &[], &params, &mut rng) == 0).count();
        assert!((2850..3150).contains(&firsts), "{firsts}");
    }

    #[test]
    fn same_seed_same_tokens() {
        let params = SamplingParams { temperature: 1.0, top_k: 0, top_p: 1.0, min_p: 0.0, ..SamplingParams::default() };
        let draw = |seed| {
            let mut rng = Rng::new(seed, 3);
            (0..50).map(|_| sample(&mut vec![0.0; 10], &[], &params, &mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(draw(11), draw(11));
        assert_ne!(draw(11), draw(12));
    }

    /// The straightforward form `sample` must equal: every candidate sorted, then top-k, top-p
    /// and min-p over the sorted list.
    fn sample_by_full_sort(logits: &mut [f32], params: &SamplingParams, rng: &mut Rng) -> u32 {
        let mut candidates: Vec<(u32, f32)> = logits.iter().enumerate().filter(|(_, l)| l.is_finite()).map(|(i, &l)| (i as u32, l / params.temperature)).collect();
        candidates.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        if params.top_k > 0 {
            candidates.truncate(params.top_k);
        }
        let max = candidates[0].1;
        let mut probs: Vec<f64> = candidates.iter().map(|&(_, l)| ((l - max) as f64).exp()).collect();
        let total: f64 = probs.iter().sum();
        probs.iter_mut().for_each(|p| *p /= total);
        let mut keep = probs.len();
        if params.top_p < 1.0 {
            let mut cumulative = 0.0;
            for (i, p) in probs.iter().enumerate() {
                cumulative += p;
                if cumulative >= params.top_p as f64 {
                    keep = i + 1;
                    break;
                }
            }
        }
        if params.min_p > 0.0 {
            let floor = probs[0] * params.min_p as f64;
            keep = keep.min(probs.iter().take_while(|&&p| p >= floor).count().max(1));
        }
        let kept_total: f64 = probs[..keep].iter().sum();
        let mut target = rng.next_f64() * kept_total;
        for i in 0..keep {
            target -= probs[i];
            if target <= 0.0 {
                return candidates[i].0;
            }
        }
        candidates[keep - 1].0
    }

    /// Peaked and flat distributions (a flat one needs more than the first ranked prefix for
    /// top-p 0.95), repeated logits (ties), every filter alone and together.
    #[test]
    fn partial_ranking_draws_what_a_full_sort_draws() {
        let mut rng = Rng::new(21, 0);
        let settings = [(0.7, 0, 0.95, 0.0), (1.0, 0, 1.0, 0.0), (1.5, 40, 0.9, 0.05), (0.5, 0, 1.0, 0.1), (5.0, 0, 0.95, 0.0), (1.0, 3000, 0.99, 0.0)];
        for case in 0..300 {
            let vocab = [5, 700, 3000][case % 3];
            let spread = [0.1, 2.0, 8.0][case / 3 % 3];
            let mut logits: Vec<f32> = (0..vocab).map(|_| ((rng.next_f64() * 8.0).floor() as f32) * spread / 8.0 + rng.next_f64() as f32 * spread).collect();
            if case % 5 == 0 {
                logits[vocab / 2] = f32::NEG_INFINITY;
                logits[1] = logits[0]; // a tie
            }
            let (temperature, top_k, top_p, min_p) = settings[case % settings.len()];
            let params = SamplingParams { temperature, top_k, top_p, min_p, repetition_penalty: 1.0, seed: 0 };
            let (mut a, mut b) = (Rng::new(case as u64, 1), Rng::new(case as u64, 1));
            for _ in 0..5 {
                assert_eq!(sample(&mut logits.clone(), &[], &params, &mut a), sample_by_full_sort(&mut logits.clone(), &params, &mut b), "case {case}");
            }
        }
    }

    #[test]
    fn repetition_penalty_follows_llama_cpp() {
        let mut logits = vec![2.0, -2.0, 1.0];
        apply_repetition_penalty(&mut logits, &[0, 1, 1], 2.0);
        assert_eq!(logits, vec![1.0, -4.0, 1.0]);
    }
}
