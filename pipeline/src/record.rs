//! One problem's full result: the JSONL record `eval` writes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::runner::PotOutcome;
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
    /// The reasoner's own maths system prompt, where one replaced the standard one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maths_system: Option<String>,
}
