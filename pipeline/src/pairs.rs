//! Preference pairs for training a verifier: per problem, a correct solution (chosen) against an
//! incorrect one (rejected), drawn from the `eval` records of one or more reasoners.

use std::collections::{BTreeMap, HashSet};

use cotnpot_engine::generate::Rng;
use serde::{Deserialize, Serialize};

use crate::record::Record;
use crate::task::Task;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairSolution {
    pub text: String,
    pub answer: Option<String>,
    /// The model file that sampled it, its temperature and the problem's sampling seed.
    pub reasoner: String,
    pub temperature: f32,
    pub seed: u64,
    /// Its place among that record's candidates.
    pub candidate: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pair {
    pub task: Task,
    /// The problem's line in its data file.
    pub index: usize,
    pub question: String,
    pub gold: Option<String>,
    /// Held out from training (the split is by problem).
    pub held_out: bool,
    pub chosen: PairSolution,
    pub rejected: PairSolution,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairOptions {
    /// Most pairs per problem.
    pub cap: usize,
    /// Share of problems held out.
    pub held_out: f64,
    pub seed: u64,
}

impl Default for PairOptions {
    fn default() -> Self {
        Self { cap: 4, held_out: 0.2, seed: 0 }
    }
}

/// The counts the SimPO paper reports about its data, and the split.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PairCounts {
    pub problems: usize,
    /// Judged solutions read, and how many were left after removing duplicates.
    pub solutions: usize,
    pub unique_solutions: usize,
    pub correct: usize,
    pub incorrect: usize,
    /// Problems with at least one correct and one incorrect solution.
    pub problems_with_pairs: usize,
    pub train_pairs: usize,
    pub held_out_pairs: usize,
    pub held_out_problems: usize,
}

impl PairCounts {
    pub fn table(&self) -> String {
        let per = |n: usize| if self.problems == 0 { 0.0 } else { n as f64 / self.problems as f64 };
        format!(
            "| | count | mean per problem |\n|---|---|---|\n\
| problems | {} | |\n| solutions read | {} | {:.2} |\n| unique solutions | {} | {:.2} |\n\
| correct | {} | {:.2} |\n| incorrect | {} | {:.2} |\n| problems with a pair | {} | |\n\
| training pairs | {} | |\n| held-out pairs ({} problems) | {} | |\n",
            self.problems,
            self.solutions,
            per(self.solutions),
            self.unique_solutions,
            per(self.unique_solutions),
            self.correct,
            per(self.correct),
            self.incorrect,
            per(self.incorrect),
            self.problems_with_pairs,
            self.train_pairs,
            self.held_out_problems,
            self.held_out_pairs
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PairError {
    #[error("problem {index} has different questions in different results files; were they run on the same data file?")]
    QuestionMismatch { index: usize },
}

/// Builds the pairs: identical solutions (after trimming) count once, at most `cap` pairs per
/// problem spread over as many different solutions as possible, held-out problems drawn by a
/// seeded coin per problem.
pub fn build_pairs(records: &[Record], options: PairOptions) -> Result<(Vec<Pair>, PairCounts), PairError> {
    let mut by_problem: BTreeMap<(String, usize), Vec<&Record>> = BTreeMap::new();
    for r in records {
        by_problem.entry((format!("{:?}", r.task), r.index)).or_default().push(r);
    }
    let mut counts = PairCounts::default();
    let mut pairs = Vec::new();
    for ((_, index), group) in by_problem {
        let first = group[0];
        if group.iter().any(|r| r.question != first.question) {
            return Err(PairError::QuestionMismatch { index });
        }
        counts.problems += 1;
        let mut seen = HashSet::new();
        let (mut correct, mut incorrect) = (Vec::new(), Vec::new());
        for r in &group {
            let (reasoner, temperature, seed) = match &r.provenance {
                Some(p) => (p.reasoner.clone(), p.temperature, p.seed),
                None => (String::new(), f32::NAN, 0),
            };
            for (candidate, c) in r.candidates.iter().enumerate() {
                let Some(right) = c.correct else { continue };
                counts.solutions += 1;
                let text = c.cot.trim();
                if text.is_empty() || !seen.insert(text.to_string()) {
                    continue;
                }
                counts.unique_solutions += 1;
                let solution = PairSolution { text: text.to_string(), answer: c.answer.clone(), reasoner: reasoner.clone(), temperature, seed, candidate };
                if right { correct.push(solution) } else { incorrect.push(solution) }
            }
        }
        counts.correct += correct.len();
        counts.incorrect += incorrect.len();
        if correct.is_empty() || incorrect.is_empty() {
            continue;
        }
        counts.problems_with_pairs += 1;
        let mut rng = Rng::new(options.seed, index as u64);
        let held_out = rng.next_f64() < options.held_out;
        shuffle(&mut correct, &mut rng);
        shuffle(&mut incorrect, &mut rng);
        // Diagonals of the correct × incorrect grid: each uses every solution once before any
        // solution repeats.
        let (nc, nw) = (correct.len(), incorrect.len());
        let chosen_pairs: Vec<(usize, usize)> = (0..nw).flat_map(|s| (0..nc).map(move |i| (i, (i + s) % nw))).take(options.cap).collect();
        if held_out {
            counts.held_out_problems += 1;
            counts.held_out_pairs += chosen_pairs.len();
        } else {
            counts.train_pairs += chosen_pairs.len();
        }
        for (i, j) in chosen_pairs {
            pairs.push(Pair {
                task: first.task,
                index,
                question: first.question.clone(),
                gold: first.gold.clone(),
                held_out,
                chosen: correct[i].clone(),
                rejected: incorrect[j].clone(),
            });
        }
    }
    Ok((pairs, counts))
}

fn shuffle<T>(items: &mut [T], rng: &mut Rng) {
    for i in (1..items.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{CandidateRecord, Provenance, Timings};

    fn candidate(text: &str, correct: bool) -> CandidateRecord {
        CandidateRecord { cot: text.into(), tokens: 1, answer: Some(text.into()), pot_code: None, pot_outcome: None, pot_result: None, kept: false, score: None, correct: Some(correct) }
    }

    fn record(index: usize, reasoner: &str, candidates: Vec<CandidateRecord>) -> Record {
        Record {
            index,
            task: Task::Gsm8k,
            question: format!("q{index}"),
            gold: Some("1".into()),
            greedy: candidate("", false),
            candidates,
            picks: Default::default(),
            correct: Default::default(),
            picked_candidate: Default::default(),
            filter_emptied: false,
            tokens: 0,
            seconds: 0.0,
            timings: Timings::default(),
            provenance: Some(Provenance { reasoner: reasoner.into(), temperature: 0.7, top_p: 0.95, seed: index as u64, maths_system: None }),
        }
    }

    #[test]
    fn pairs_dedup_cap_and_split_by_problem() {
        let records: Vec<Record> = (0..20)
            .flat_map(|i| {
                [
                    record(i, "a", vec![candidate("right 1", true), candidate("right 1 ", true), candidate("wrong 1", false), candidate("right 2", true)]),
                    record(i, "b", vec![candidate("wrong 2", false), candidate("wrong 3", false), candidate("right 1", true)]),
                ]
            })
            .chain([record(20, "a", vec![candidate("only right", true)])])
            .collect();
        let (pairs, counts) = build_pairs(&records, PairOptions { cap: 4, held_out: 0.3, seed: 1 }).unwrap();
        assert_eq!(counts.problems, 21);
        assert_eq!(counts.solutions, 20 * 7 + 1);
        // Per problem: "right 1" three times → once; 2 correct + 3 incorrect unique.
        assert_eq!(counts.unique_solutions, 20 * 5 + 1);
        assert_eq!((counts.correct, counts.incorrect), (20 * 2 + 1, 20 * 3));
        assert_eq!(counts.problems_with_pairs, 20);
        assert_eq!(pairs.len(), 20 * 4);
        assert_eq!(counts.train_pairs + counts.held_out_pairs, pairs.len());
        assert!(counts.held_out_problems > 0 && counts.held_out_problems < 20);
        for index in 0..20 {
            let mine: Vec<&Pair> = pairs.iter().filter(|p| p.index == index).collect();
            assert!(mine.iter().all(|p| p.held_out == mine[0].held_out), "the split is by problem");
            let unique: HashSet<(&str, &str)> = mine.iter().map(|p| (p.chosen.text.as_str(), p.rejected.text.as_str())).collect();
            assert_eq!(unique.len(), 4);
            assert!(mine.iter().all(|p| p.chosen.text.starts_with("right") && p.rejected.text.starts_with("wrong")));
            // 4 pairs over 2 correct and 3 incorrect: every incorrect solution is used.
            let rejected: HashSet<&str> = mine.iter().map(|p| p.rejected.text.as_str()).collect();
            assert_eq!(rejected.len(), 3);
            let from_b = mine.iter().any(|p| p.rejected.reasoner == "b");
            assert!(from_b, "provenance names the reasoner");
        }
        let (again, _) = build_pairs(&records, PairOptions { cap: 4, held_out: 0.3, seed: 1 }).unwrap();
        assert_eq!(pairs, again, "seeded");
    }

    #[test]
    fn different_questions_under_one_index_are_an_error() {
        let mut other = record(0, "b", vec![candidate("x", true)]);
        other.question = "another".into();
        let records = vec![record(0, "a", vec![candidate("y", false)]), other];
        assert!(matches!(build_pairs(&records, PairOptions::default()), Err(PairError::QuestionMismatch { index: 0 })));
    }
}
