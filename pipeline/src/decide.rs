//! Every strategy's pick for one problem, made from its candidates as a record holds them
//! (answers, program results, verdicts, scores) and judged against the gold answer. `eval` stores
//! these; `report --recompute` makes them again from old records, so new strategies apply to them.

use std::collections::BTreeMap;

use crate::answer::{Answer, printed_answer};
use crate::code_key;
use crate::compare::{EqualityTable, compare, equal};
use crate::record::{CandidateRecord, Record};
use crate::runner::PythonRunner;
use crate::strategy::{Ballot, select};
use crate::task::Task;

/// The strategy fields of a [`Record`].
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub picks: BTreeMap<String, Option<String>>,
    pub correct: BTreeMap<String, bool>,
    pub picked_candidate: BTreeMap<String, Option<usize>>,
    pub filter_emptied: bool,
}

impl Decision {
    pub fn apply(self, record: &mut Record) {
        record.picks = self.picks;
        record.correct = self.correct;
        record.picked_candidate = self.picked_candidate;
        record.filter_emptied = self.filter_emptied;
    }
}

/// A recorded answer as strategies compare it: maths normalised, code by its [`code_key`].
pub fn answer_of(task: Task, raw: &str) -> Answer {
    if task.is_code() { Answer { raw: raw.to_string(), normalized: code_key(raw), value: None } } else { Answer::new(raw) }
}

pub fn ballot(task: Task, c: &CandidateRecord) -> Ballot {
    let answer = c.answer.as_deref().map(|a| answer_of(task, a));
    // Code: a program that passed the visible test vouches for itself, a second vote for the
    // same program; maths: the printed result, when it reads as an answer ([`printed_answer`]).
    let program = if task.is_code() {
        answer.clone().filter(|_| c.kept)
    } else {
        c.pot_result.as_deref().and_then(printed_answer)
    };
    Ballot { answer, program, score: c.score.unwrap_or(f64::NAN), kept: c.kept }
}

/// Picks every strategy's answer and judges it: a pick that a candidate's solution gave takes that
/// candidate's verdict; one that only programs gave is judged against `gold` (maths), by the same
/// comparison the candidates were judged with. `gold` is the record's: `None` without a gold
/// answer (then nothing is judged), the tests for code.
pub async fn decide<R: PythonRunner>(task: Task, gold: Option<&str>, candidates: &[CandidateRecord], greedy: &CandidateRecord, runner: &R) -> Decision {
    let ballots: Vec<Ballot> = candidates.iter().map(|c| ballot(task, c)).collect();
    let table = if task.is_code() {
        EqualityTable::default()
    } else {
        EqualityTable::build(ballots.iter().flat_map(|b| b.answer.iter().chain(&b.program)), runner).await
    };
    let same = |a: &Answer, b: &Answer| if task.is_code() { a.normalized == b.normalized } else { table.same(a, b) };
    let picks = select(&ballots, &same);

    let mut decision = Decision { picks: BTreeMap::new(), correct: BTreeMap::new(), picked_candidate: BTreeMap::new(), filter_emptied: picks.filter_emptied };
    decision.picks.insert("greedy".into(), greedy.answer.clone());
    decision.picked_candidate.insert("greedy".into(), None);
    if let Some(c) = greedy.correct {
        decision.correct.insert("greedy".into(), c);
    }
    for (name, pick) in &picks.by_strategy {
        decision.picks.insert(name.to_string(), pick.as_ref().map(|p| p.answer.raw.clone()));
        decision.picked_candidate.insert(name.to_string(), pick.as_ref().and_then(|p| p.candidate));
        if gold.is_none() {
            continue;
        }
        let right = match pick {
            None => false,
            Some(p) => match (p.candidate, gold) {
                (Some(i), _) => candidates[i].correct.unwrap_or(false),
                (None, Some(gold)) if !task.is_code() => equal(runner, &p.answer, &Answer::new(gold), compare).await,
                (None, _) => false,
            },
        };
        decision.correct.insert(name.to_string(), right);
    }
    decision
}
