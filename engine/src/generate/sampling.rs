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
            *l = penalised(*l, penalty);
        }
    }
}

fn penalised(l: f32, penalty: f32) -> f32 {
    if l > 0.0 { l / penalty } else { l * penalty }
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
    let mut candidates: Vec<(u32, f32)> = logits.iter().enumerate().filter(|(_, l)| l.is_finite()).map(|(i, &l)| (i as u32, l / params.temperature)).collect();
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
    draw(&candidates[..keep], total, weight, rng)
}

/// One of the kept candidates, in ranking order, by inverting their cumulative distribution at
/// one uniform number.
fn draw(kept: &[(u32, f32)], total: f64, weight: impl Fn(f32) -> f64, rng: &mut Rng) -> u32 {
    let kept_total: f64 = kept.iter().map(|&(_, l)| weight(l) / total).sum();
    let mut target = rng.next_f64() * kept_total;
    for &(id, l) in kept {
        target -= weight(l) / total;
        if target <= 0.0 {
            return id;
        }
    }
    kept[kept.len() - 1].0
}

/// One row's candidates as the device shortlisted them (`step::shortlist`): every logit of the
/// row at or above a threshold, with what the host needs of the rest.
#[derive(Debug, Clone)]
pub struct Shortlisted {
    /// (id, raw logit), in any order.
    pub candidates: Vec<(u32, f32)>,
    /// Whether `candidates` holds every logit at or above the threshold (ties can overflow the
    /// room the device had) and the whole row is finite.
    pub complete: bool,
    /// The row's length (every logit is a candidate of the full sampler).
    pub vocab: usize,
    /// `Σ e^((l − max)/T)` over the row's penalised logits, summed on the device.
    pub total: f64,
    /// `ln Σ eᶩ` over the row's raw logits.
    pub log_z: f32,
}

/// What `sample` would draw from the whole row, drawn from its shortlist, or `None` (with `rng`
/// untouched) where the shortlist cannot decide: it is incomplete, or top-k, top-p and min-p
/// keep more than it holds. Where it decides, it decides as `sample` does, but for two roundings:
/// without top-k, top-p's probabilities are normalised by the device's f32 sum (relative error
/// ~10⁻⁶) instead of the host's f64 one; and a GPU whose division is not exact could put a
/// penalised logit within a few ulps of the shortlist's threshold on the other side of it.
pub fn sample_shortlisted(short: &Shortlisted, history: &[u32], params: &SamplingParams, rng: &mut Rng) -> Option<u32> {
    if !short.complete || short.candidates.is_empty() {
        return None;
    }
    let mut candidates = short.candidates.clone();
    if params.repetition_penalty != 1.0 {
        let mut seen = history.to_vec();
        seen.sort_unstable();
        for c in &mut candidates {
            if seen.binary_search(&c.0).is_ok() {
                c.1 = penalised(c.1, params.repetition_penalty);
            }
        }
    }
    candidates.sort_unstable_by_key(|c| c.0);
    if params.is_greedy() {
        let values: Vec<f32> = candidates.iter().map(|c| c.1).collect();
        return Some(candidates[argmax(&values) as usize].0);
    }
    candidates.iter_mut().for_each(|c| c.1 /= params.temperature);
    let held = candidates.len();
    rank_prefix(&mut candidates, held);
    let max = candidates[0].1;
    let weight = |l: f32| ((l - max) as f64).exp();
    let (all, total) = if params.top_k > 0 && params.top_k < short.vocab {
        if params.top_k > held {
            return None;
        }
        candidates.truncate(params.top_k);
        (params.top_k, candidates.iter().map(|&(_, l)| weight(l)).sum())
    } else {
        (short.vocab, short.total)
    };
    let keep = kept(&candidates, all, params, total, weight)?;
    Some(draw(&candidates[..keep], total, weight, rng))
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

    /// What the device's shortlist kernel computes, on the host: every logit (penalised) at or
    /// above the `wanted`-th largest, and the f64 total `sample` itself would use.
    pub(crate) fn shortlist_on_host(logits: &[f32], history: &[u32], params: &SamplingParams, wanted: usize, capacity: usize) -> Shortlisted {
        let mut penalised = logits.to_vec();
        apply_repetition_penalty(&mut penalised, history, params.repetition_penalty);
        let mut sorted: Vec<f32> = penalised.clone();
        sorted.sort_unstable_by(|a, b| b.total_cmp(a));
        let threshold = sorted[wanted.min(sorted.len()) - 1];
        let candidates: Vec<(u32, f32)> = (0..logits.len()).filter(|&i| penalised[i] >= threshold).map(|i| (i as u32, logits[i])).collect();
        let temperature = if params.is_greedy() { 1.0 } else { params.temperature };
        let max = penalised.iter().map(|&l| l / temperature).fold(f32::NEG_INFINITY, f32::max);
        let total = penalised.iter().map(|&l| ((l / temperature - max) as f64).exp()).sum();
        Shortlisted { complete: candidates.len() <= capacity, candidates, vocab: logits.len(), total, log_z: 0.0 }
    }

    /// The shortlist draws what the whole row draws, for every sampler option, or declines
    /// without touching the generator; with top-k within it, it always decides.
    #[test]
    fn a_shortlist_draws_what_the_whole_row_draws() {
        let mut rng = Rng::new(5, 0);
        let settings =
            [(0.0, 0, 1.0, 0.0, 1.0), (0.0, 0, 1.0, 0.0, 1.3), (0.7, 40, 0.95, 0.05, 1.0), (1.0, 0, 0.9, 0.0, 1.0), (1.2, 10, 1.0, 0.0, 1.2), (0.8, 0, 1.0, 0.1, 1.1), (1.0, 500, 0.99, 0.0, 1.0)];
        let (mut decided, mut declined) = (0, 0);
        for case in 0..280 {
            let vocab = [50, 700, 3000][case % 3];
            let spread = [0.1, 2.0, 8.0][case / 3 % 3];
            let mut logits: Vec<f32> = (0..vocab).map(|_| ((rng.next_f64() * 8.0).floor() as f32) * spread / 8.0 + rng.next_f64() as f32 * spread - spread / 2.0).collect();
            if case % 5 == 0 {
                // Ties, which the shortlist holds together.
                let (first, last) = (logits[0], vocab - 1);
                logits[1] = first;
                logits[last] = first;
            }
            let history: Vec<u32> = (0..20).map(|_| (rng.next_u64() % vocab as u64) as u32).collect();
            let (temperature, top_k, top_p, min_p, repetition_penalty) = settings[case % settings.len()];
            let params = SamplingParams { temperature, top_k, top_p, min_p, repetition_penalty, seed: 0 };
            let wanted = if top_k > 0 { top_k } else { 64 };
            let short = shortlist_on_host(&logits, &history, &params, wanted, 2 * wanted + 64);
            let (mut a, mut b) = (Rng::new(case as u64, 2), Rng::new(case as u64, 2));
            for _ in 0..4 {
                let whole = sample(&mut logits.clone(), &history, &params, &mut b);
                match sample_shortlisted(&short, &history, &params, &mut a) {
                    Some(token) => {
                        assert_eq!(token, whole, "case {case}");
                        decided += 1;
                    }
                    None => {
                        assert!(top_k == 0 || top_k > short.candidates.len() || !short.complete, "case {case}: top-k {top_k} within the shortlist must decide");
                        // The generator was left as it was.
                        assert_eq!(sample(&mut logits.clone(), &history, &params, &mut a), whole, "case {case}");
                        declined += 1;
                    }
                }
            }
        }
        assert!(decided > 3 * declined, "decided {decided}, declined {declined}");
    }

    #[test]
    fn repetition_penalty_follows_llama_cpp() {
        let mut logits = vec![2.0, -2.0, 1.0];
        apply_repetition_penalty(&mut logits, &[0, 1, 1], 2.0);
        assert_eq!(logits, vec![1.0, -4.0, 1.0]);
    }
}
