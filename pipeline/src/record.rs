//! One problem's full result (the JSONL record `eval` writes), and the accuracy table built from
//! many of them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::runner::PotOutcome;
use crate::strategy::STRATEGIES;
use crate::task::Task;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateRecord {
    /// The reasoner's solution (for code problems: its whole reply).
    pub cot: String,
    pub tokens: usize,
    /// The extracted final answer (for code problems: the program).
    pub answer: Option<String>,
    pub pot_code: Option<String>,
    pub pot_outcome: Option<PotOutcome>,
    /// The program's printed answer.
    pub pot_result: Option<String>,
    /// Survived the CoTnPoT filter.
    pub kept: bool,
    /// The verifier's mean log-probability of the solution tokens.
    pub score: Option<f64>,
    /// Judged against the gold answer (`None` without one).
    pub correct: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// The N samples and the greedy continuation, one batch (records before that kept a separate
    /// `greedy` time, which reading them ignores).
    pub sample: f64,
    pub pot: f64,
    pub run: f64,
    pub filter: f64,
    pub score: f64,
    pub judge: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub index: usize,
    pub task: Task,
    pub question: String,
    /// The gold answer, or for code problems the tests joined by newlines.
    pub gold: Option<String>,
    pub candidates: Vec<CandidateRecord>,
    pub greedy: CandidateRecord,
    /// Strategy name → the answer it picked.
    pub picks: BTreeMap<String, Option<String>>,
    /// Strategy name → whether that pick is correct (only when there is a gold answer).
    pub correct: BTreeMap<String, bool>,
    /// Strategy name → the candidate it picked (greedy has none).
    pub picked_candidate: BTreeMap<String, Option<usize>>,
    pub filter_emptied: bool,
    /// Tokens generated for this problem (solutions, greedy and programs).
    pub tokens: usize,
    pub seconds: f64,
    pub timings: Timings,
    /// Who sampled the candidates and how: training pairs carry it as provenance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The reasoner's model file name.
    pub reasoner: String,
    pub temperature: f32,
    pub top_p: f32,
    /// The sampling seed of this problem.
    pub seed: u64,
}

/// Accuracy per strategy and the rest of `eval`'s table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub problems: usize,
    /// Problems with a gold answer, over which accuracies are taken.
    pub judged: usize,
    pub accuracy: BTreeMap<String, f64>,
    /// Share of problems where at least one candidate is correct: an oracle's upper bound.
    pub pass_at_n: f64,
    pub n: usize,
    pub filter_emptied: f64,
    pub mean_kept: f64,
    pub mean_tokens: f64,
    pub mean_seconds: f64,
}

impl Report {
    pub fn from_records(records: &[Record]) -> Self {
        let judged: Vec<&Record> = records.iter().filter(|r| !r.correct.is_empty()).collect();
        let share = |count: usize, of: usize| if of == 0 { 0.0 } else { count as f64 / of as f64 };
        let accuracy = STRATEGIES
            .iter()
            .map(|s| (s.to_string(), share(judged.iter().filter(|r| r.correct.get(*s).copied().unwrap_or(false)).count(), judged.len())))
            .collect();
        let pass = judged.iter().filter(|r| r.candidates.iter().any(|c| c.correct == Some(true))).count();
        let mean = |f: &dyn Fn(&Record) -> f64| if records.is_empty() { 0.0 } else { records.iter().map(f).sum::<f64>() / records.len() as f64 };
        Self {
            problems: records.len(),
            judged: judged.len(),
            accuracy,
            pass_at_n: share(pass, judged.len()),
            n: records.iter().map(|r| r.candidates.len()).max().unwrap_or(0),
            filter_emptied: share(records.iter().filter(|r| r.filter_emptied).count(), records.len()),
            mean_kept: mean(&|r| r.candidates.iter().filter(|c| c.kept).count() as f64),
            mean_tokens: mean(&|r| r.tokens as f64),
            mean_seconds: mean(&|r| r.seconds),
        }
    }

    /// The table as Markdown.
    pub fn table(&self) -> String {
        let mut out = format!("| strategy | accuracy ({} problems) |\n|---|---|\n", self.judged);
        for s in STRATEGIES {
            out.push_str(&format!("| {s} | {:.1}% |\n", 100.0 * self.accuracy.get(s).copied().unwrap_or(0.0)));
        }
        out.push_str(&format!("| pass@{} (oracle) | {:.1}% |\n\n", self.n, 100.0 * self.pass_at_n));
        out.push_str(&format!(
            "filter emptied the set: {:.1}% of problems · candidates kept: {:.2} of {} on average · \
mean tokens per problem: {:.0} · mean seconds per problem: {:.1}\n",
            100.0 * self.filter_emptied,
            self.mean_kept,
            self.n,
            self.mean_tokens,
            self.mean_seconds
        ));
        out
    }
}
