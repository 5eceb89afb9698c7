//! Picking one answer from N candidates, every way the comparison needs: majority vote, verifier
//! best-of-N, the CoTnPoT filter followed by either, and a verifier-weighted vote.

use serde::{Deserialize, Serialize};

use crate::answer::Answer;
use crate::compare::{Equality, compare};

/// What a strategy sees of one candidate.
#[derive(Debug, Clone)]
pub struct Ballot {
    pub answer: Option<Answer>,
    /// The verifier's mean log-probability of the solution (higher is better).
    pub score: f64,
    /// Survived the CoTnPoT filter.
    pub kept: bool,
}

pub const STRATEGIES: [&str; 6] = ["greedy", "majority", "verifier", "cotnpot_majority", "cotnpot_verifier", "weighted"];

/// The candidate each strategy picks (an index into the ballots); `None` when no candidate has
/// an answer. Greedy is a separate run and is not among these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Picks {
    pub majority: Option<usize>,
    pub verifier: Option<usize>,
    pub cotnpot_majority: Option<usize>,
    pub cotnpot_verifier: Option<usize>,
    pub weighted: Option<usize>,
    /// The filter kept no candidate with an answer, so both CoTnPoT strategies fell back to the
    /// verifier over all candidates.
    pub filter_emptied: bool,
}

pub fn select(ballots: &[Ballot]) -> Picks {
    let all = |_: &Ballot| true;
    let kept = |b: &Ballot| b.kept;
    let filter_emptied = !ballots.iter().any(|b| b.kept && b.answer.is_some());
    let verifier = best(ballots, all);
    Picks {
        majority: vote(ballots, all, |_| 1.0),
        verifier,
        cotnpot_majority: if filter_emptied { verifier } else { vote(ballots, kept, |_| 1.0) },
        cotnpot_verifier: if filter_emptied { verifier } else { best(ballots, kept) },
        // exp(mean log-prob) is the geometric-mean token probability: a weight in (0, 1].
        weighted: vote(ballots, all, |b| finite(b.score).exp()),
        filter_emptied,
    }
}

fn finite(score: f64) -> f64 {
    if score.is_nan() { f64::NEG_INFINITY } else { score }
}

/// The highest-scoring candidate with an answer among those `eligible`; ties go to the first.
pub fn best(ballots: &[Ballot], eligible: impl Fn(&Ballot) -> bool) -> Option<usize> {
    let mut pick: Option<usize> = None;
    for (i, b) in ballots.iter().enumerate() {
        if b.answer.is_none() || !eligible(b) {
            continue;
        }
        if pick.is_none_or(|p| finite(b.score) > finite(ballots[p].score)) {
            pick = Some(i);
        }
    }
    pick
}

/// Groups equal answers among the `eligible` candidates, sums `weight` per group, and returns the
/// first candidate of the heaviest group (ties go to the group seen first).
pub fn vote(ballots: &[Ballot], eligible: impl Fn(&Ballot) -> bool, weight: impl Fn(&Ballot) -> f64) -> Option<usize> {
    let mut groups: Vec<(usize, f64)> = Vec::new();
    for (i, b) in ballots.iter().enumerate() {
        let Some(answer) = &b.answer else { continue };
        if !eligible(b) {
            continue;
        }
        let same = groups.iter_mut().find(|(first, _)| {
            ballots[*first].answer.as_ref().is_some_and(|a| compare(a, answer) == Equality::Equal)
        });
        match same {
            Some(group) => group.1 += weight(b),
            None => groups.push((i, weight(b))),
        }
    }
    let mut winner: Option<(usize, f64)> = None;
    for (first, total) in groups {
        if winner.is_none_or(|(_, w)| total > w) {
            winner = Some((first, total));
        }
    }
    winner.map(|(first, _)| first)
}
