//! Picking one answer from N candidates, every way the comparison needs: majority vote, verifier
//! best-of-N, the CoTnPoT filter followed by either, verifier-weighted votes, and the joint vote in
//! which each solution and each program counts once.


use crate::answer::Answer;
use crate::compare::{Equality, compare};

/// What a strategy sees of one candidate.
#[derive(Debug, Clone)]
pub struct Ballot {
    /// The solution's final answer.
    pub answer: Option<Answer>,
    /// The answer its program gave, when it gave one: for maths the printed result, for code the
    /// candidate's own program when it passed the visible test.
    pub program: Option<Answer>,
    /// The verifier's mean log-probability of the solution (higher is better).
    pub score: f64,
    /// Survived the CoTnPoT filter.
    pub kept: bool,
}

pub const STRATEGIES: [&str; 9] = [
    "greedy",
    "majority",
    "verifier",
    "cotnpot_majority",
    "cotnpot_verifier",
    "weighted",
    "joint_vote",
    "cotnpot_weighted",
    "joint_weighted",
];

/// The strategy whose answer the page puts first: tied for the most accurate pick on both tasks
/// measured, GSM8K and MBPP (`BENCHMARKS.md`, "Every strategy on the dev slices").
pub const HEADLINE_STRATEGY: &str = "cotnpot_weighted";

/// An answer a strategy chose, and the candidate whose solution gave it. A joint vote can be won
/// by programs alone; then no solution gave the answer and `candidate` is `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pick {
    pub candidate: Option<usize>,
    pub answer: Answer,
}

/// Every strategy's pick but greedy's (a separate run).
#[derive(Debug, Clone, PartialEq)]
pub struct Picks {
    /// In the order of [`STRATEGIES`]; `None` when no candidate has an answer.
    pub by_strategy: Vec<(&'static str, Option<Pick>)>,
    /// The filter kept no candidate with an answer: both older CoTnPoT strategies fell back to
    /// the verifier over all candidates, and `cotnpot_weighted` to the joint vote.
    pub filter_emptied: bool,
}

impl Picks {
    pub fn get(&self, strategy: &str) -> Option<&Pick> {
        self.by_strategy.iter().find(|(name, _)| *name == strategy).and_then(|(_, pick)| pick.as_ref())
    }

    /// The candidate behind a strategy's pick.
    pub fn candidate(&self, strategy: &str) -> Option<usize> {
        self.get(strategy).and_then(|p| p.candidate)
    }
}

/// Every strategy's pick. The six older strategies group answers by [`compare`]; the joint and
/// CoTnPoT-weighted votes by `same`, the equality the filter uses (callers settle sympy's cases
/// beforehand, see [`crate::compare::EqualityTable`]).
pub fn select(ballots: &[Ballot], same: &dyn Fn(&Answer, &Answer) -> bool) -> Picks {
    let all = |_: &Ballot| true;
    let kept = |b: &Ballot| b.kept;
    let one = |_: &Ballot| 1.0;
    // exp(mean log-prob) is the geometric-mean token probability: a weight in (0, 1].
    let prob = |b: &Ballot| finite(b.score).exp();
    let filter_emptied = !ballots.iter().any(|b| b.kept && b.answer.is_some());
    let of_candidate = |i: Option<usize>| i.map(|i| Pick { candidate: Some(i), answer: ballots[i].answer.clone().expect("picks have answers") });
    let verifier = best(ballots, all);
    let joint_vote = tally(&joint_votes(ballots, all), ballots, same, one);
    let cotnpot_weighted = if filter_emptied { joint_vote.clone() } else { tally(&solution_votes(ballots, kept), ballots, same, prob) };
    let by_strategy = vec![
        ("majority", of_candidate(vote(ballots, all, one))),
        ("verifier", of_candidate(verifier)),
        ("cotnpot_majority", of_candidate(if filter_emptied { verifier } else { vote(ballots, kept, one) })),
        ("cotnpot_verifier", of_candidate(if filter_emptied { verifier } else { best(ballots, kept) })),
        ("weighted", of_candidate(vote(ballots, all, prob))),
        ("joint_vote", joint_vote),
        ("cotnpot_weighted", cotnpot_weighted),
        ("joint_weighted", tally(&joint_votes(ballots, all), ballots, same, prob)),
    ];
    Picks { by_strategy, filter_emptied }
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

/// One answer cast for a candidate: by its solution or by its program.
struct Cast<'a> {
    answer: &'a Answer,
    candidate: usize,
    by_solution: bool,
}

/// The solutions' answers of the `eligible` candidates.
fn solution_votes(ballots: &[Ballot], eligible: impl Fn(&Ballot) -> bool) -> Vec<Cast<'_>> {
    let eligible = &eligible;
    ballots
        .iter()
        .enumerate()
        .filter(|(_, b)| eligible(b))
        .filter_map(|(candidate, b)| Some(Cast { answer: b.answer.as_ref()?, candidate, by_solution: true }))
        .collect()
}

/// Every solution's answer, then every program's: solutions first, so that a group holding any
/// solution is named by one and its pick has a candidate.
fn joint_votes(ballots: &[Ballot], eligible: impl Fn(&Ballot) -> bool) -> Vec<Cast<'_>> {
    let mut casts = solution_votes(ballots, &eligible);
    casts.extend(
        ballots
            .iter()
            .enumerate()
            .filter(|(_, b)| eligible(b))
            .filter_map(|(candidate, b)| Some(Cast { answer: b.program.as_ref()?, candidate, by_solution: false })),
    );
    casts
}

/// The heaviest group of equal answers, each cast weighing `weight` of its candidate; ties go to
/// the group holding the best verifier score, then to the group seen first.
fn tally(casts: &[Cast], ballots: &[Ballot], same: &dyn Fn(&Answer, &Answer) -> bool, weight: impl Fn(&Ballot) -> f64) -> Option<Pick> {
    struct Group {
        first: usize,
        total: f64,
        top_score: f64,
    }
    let mut groups: Vec<Group> = Vec::new();
    for (i, cast) in casts.iter().enumerate() {
        let ballot = &ballots[cast.candidate];
        match groups.iter_mut().find(|g| same(casts[g.first].answer, cast.answer)) {
            Some(g) => {
                g.total += weight(ballot);
                g.top_score = g.top_score.max(finite(ballot.score));
            }
            None => groups.push(Group { first: i, total: weight(ballot), top_score: finite(ballot.score) }),
        }
    }
    let winner = groups.iter().reduce(|w, g| if (g.total, g.top_score) > (w.total, w.top_score) { g } else { w })?;
    let named_by = &casts[winner.first];
    Some(Pick { candidate: named_by.by_solution.then_some(named_by.candidate), answer: named_by.answer.clone() })
}
