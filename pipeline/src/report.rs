//! What a results file says: each strategy's accuracy with a 95% interval, paired tests of each
//! strategy against majority vote and greedy on the same problems, how the programs ended, and
//! two runs of the same problems compared.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::record::{CandidateRecord, Record};
use crate::runner::PotOutcome;
use crate::stats::{mcnemar_exact, wilson_95};
use crate::strategy::STRATEGIES;
use crate::task::Task;

/// A share of problems solved, with its Wilson 95% interval (fractions).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Accuracy {
    pub correct: usize,
    pub accuracy: f64,
    pub ci_low: f64,
    pub ci_high: f64,
}

impl Accuracy {
    pub fn of(correct: usize, of: usize) -> Self {
        let (ci_low, ci_high) = wilson_95(correct, of);
        Self { correct, accuracy: if of == 0 { 0.0 } else { correct as f64 / of as f64 }, ci_low, ci_high }
    }

    fn cell(&self) -> String {
        format!("{:.1}% | {:.1}–{:.1}%", 100.0 * self.accuracy, 100.0 * self.ci_low, 100.0 * self.ci_high)
    }
}

/// `strategy` against `against` on the same problems: problems only `strategy` solved (wins),
/// only `against` solved (losses), and the exact McNemar p-value of that split.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Paired {
    pub strategy: String,
    pub against: String,
    pub wins: usize,
    pub losses: usize,
    pub p_value: f64,
}

impl Paired {
    fn of(strategy: &str, against: &str, pairs: impl Iterator<Item = (bool, bool)>) -> Self {
        let (wins, losses) = pairs.fold((0, 0), |(w, l), (s, a)| (w + usize::from(s && !a), l + usize::from(a && !s)));
        Self { strategy: strategy.into(), against: against.into(), wins, losses, p_value: mcnemar_exact(wins, losses) }
    }

    fn cell(&self) -> String {
        let p = if self.p_value < 0.001 { "p < 0.001".to_string() } else { format!("p = {:.3}", self.p_value) };
        format!("+{} −{}, {p}", self.wins, self.losses)
    }
}

/// The strategies every judged record holds, in [`STRATEGIES`]' order.
fn strategies_in(judged: &[&Record]) -> Vec<&'static str> {
    STRATEGIES.iter().copied().filter(|s| !judged.is_empty() && judged.iter().all(|r| r.correct.contains_key(*s))).collect()
}

fn right(r: &Record, strategy: &str) -> bool {
    r.correct.get(strategy).copied().unwrap_or(false)
}

/// Accuracy per strategy and the rest of `eval`'s table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub problems: usize,
    /// Problems with a gold answer, over which accuracies are taken.
    pub judged: usize,
    pub strategies: BTreeMap<String, Accuracy>,
    /// Strategies some of the records lack (written before them): `report --recompute` adds them.
    pub missing: Vec<String>,
    /// Each strategy against majority vote and against greedy.
    pub paired: Vec<Paired>,
    /// Problems where at least one candidate is correct: an oracle's upper bound.
    pub pass_at_n: Accuracy,
    pub n: usize,
    pub filter_emptied: f64,
    pub mean_kept: f64,
    pub mean_tokens: f64,
    pub mean_seconds: f64,
    /// How the candidates' programs ended ([`program_outcome`]) → how many.
    pub programs: BTreeMap<String, usize>,
    /// The same, over the problems where the filter kept nothing: why it emptied the set.
    pub programs_when_emptied: BTreeMap<String, usize>,
}

impl Report {
    pub fn from_records(records: &[Record]) -> Self {
        let judged: Vec<&Record> = records.iter().filter(|r| !r.correct.is_empty()).collect();
        let names = strategies_in(&judged);
        let strategies =
            names.iter().map(|s| (s.to_string(), Accuracy::of(judged.iter().filter(|r| right(r, s)).count(), judged.len()))).collect();
        let mut paired = Vec::new();
        for against in ["majority", "greedy"].into_iter().filter(|a| names.contains(a)) {
            for s in names.iter().filter(|s| **s != against) {
                paired.push(Paired::of(s, against, judged.iter().map(|r| (right(r, s), right(r, against)))));
            }
        }
        let pass = judged.iter().filter(|r| r.candidates.iter().any(|c| c.correct == Some(true))).count();
        let share = |count: usize, of: usize| if of == 0 { 0.0 } else { count as f64 / of as f64 };
        let mean = |f: &dyn Fn(&Record) -> f64| if records.is_empty() { 0.0 } else { records.iter().map(f).sum::<f64>() / records.len() as f64 };
        Self {
            problems: records.len(),
            judged: judged.len(),
            strategies,
            missing: STRATEGIES.iter().filter(|s| !names.contains(s) && judged.iter().any(|r| !r.picks.is_empty())).map(|s| s.to_string()).collect(),
            paired,
            pass_at_n: Accuracy::of(pass, judged.len()),
            n: records.iter().map(|r| r.candidates.len()).max().unwrap_or(0),
            filter_emptied: share(records.iter().filter(|r| r.filter_emptied).count(), records.len()),
            mean_kept: mean(&|r| r.candidates.iter().filter(|c| c.kept).count() as f64),
            mean_tokens: mean(&|r| r.tokens as f64),
            mean_seconds: mean(&|r| r.seconds),
            programs: outcome_counts(records.iter()),
            programs_when_emptied: outcome_counts(records.iter().filter(|r| r.filter_emptied)),
        }
    }

    pub fn accuracy(&self, strategy: &str) -> f64 {
        self.strategies.get(strategy).map_or(0.0, |a| a.accuracy)
    }

    fn paired_cell(&self, strategy: &str, against: &str) -> String {
        self.paired.iter().find(|p| p.strategy == strategy && p.against == against).map(Paired::cell).unwrap_or_default()
    }

    /// The table as Markdown.
    pub fn table(&self) -> String {
        let mut out = format!(
            "| strategy | accuracy ({} problems) | 95% interval | vs majority | vs greedy |\n|---|---|---|---|---|\n",
            self.judged
        );
        for s in STRATEGIES.iter().filter(|s| self.strategies.contains_key(**s)) {
            out.push_str(&format!(
                "| {s} | {} | {} | {} |\n",
                self.strategies[*s].cell(),
                self.paired_cell(s, "majority"),
                self.paired_cell(s, "greedy")
            ));
        }
        out.push_str(&format!("| pass@{} (oracle) | {} | | |\n\n", self.n, self.pass_at_n.cell()));
        out.push_str("vs X: problems this strategy solved and X did not (+), the reverse (−), exact McNemar p-value.\n\n");
        if !self.missing.is_empty() {
            out.push_str(&format!(
                "not in these records: {} (`cotnpot report --recompute` makes them from the stored candidates)\n\n",
                self.missing.join(", ")
            ));
        }
        out.push_str(&format!(
            "filter emptied the set: {:.1}% of problems · candidates kept: {:.2} of {} on average · \
mean tokens per problem: {:.0} · mean seconds per problem: {:.1}\n",
            100.0 * self.filter_emptied,
            self.mean_kept,
            self.n,
            self.mean_tokens,
            self.mean_seconds
        ));
        out.push_str(&format!("\nprograms ({}", outcome_line(&self.programs)));
        if !self.programs_when_emptied.is_empty() {
            out.push_str(&format!("\nprograms where the filter kept nothing ({}", outcome_line(&self.programs_when_emptied)));
        }
        out
    }
}

/// How many candidates' programs ended each way ([`program_outcome`]).
fn outcome_counts<'a>(records: impl Iterator<Item = &'a Record>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for r in records {
        for c in &r.candidates {
            *counts.entry(program_outcome(r.task, c).to_string()).or_insert(0) += 1;
        }
    }
    counts
}

/// `N candidates): outcome n (share) · …`, the commonest first.
fn outcome_line(counts: &BTreeMap<String, usize>) -> String {
    let total: usize = counts.values().sum();
    let mut sorted: Vec<(&String, &usize)> = counts.iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let parts: Vec<String> = sorted.iter().map(|(k, v)| format!("{k} {v} ({:.1}%)", 100.0 * **v as f64 / total.max(1) as f64)).collect();
    format!("{total} candidates): {}\n", parts.join(" · "))
}

/// How a candidate's program ended, from the filter's point of view.
pub fn program_outcome(task: Task, c: &CandidateRecord) -> &'static str {
    if c.answer.is_none() {
        return "no answer, no program";
    }
    match &c.pot_outcome {
        None if c.pot_code.is_none() => "no program in the reply",
        None => "not run",
        Some(PotOutcome::Error { .. }) if task.is_code() => "failed the visible test",
        Some(PotOutcome::Error { .. }) => "raised an error",
        Some(PotOutcome::Timeout { .. }) => "timed out",
        Some(PotOutcome::OutputTooLarge { .. }) => "printed too much",
        Some(PotOutcome::Unavailable { .. }) => "could not run",
        Some(PotOutcome::Finished { .. }) if task.is_code() => "passed the visible test",
        Some(PotOutcome::Finished { .. }) if c.kept => "agreed",
        Some(PotOutcome::Finished { .. }) if c.pot_result.is_none() => "printed nothing",
        Some(PotOutcome::Finished { .. }) => "disagreed",
    }
}

/// One strategy in two runs of the same problems.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Compared {
    pub strategy: String,
    pub a: Accuracy,
    pub b: Accuracy,
    /// B against A: problems B solved and A did not, the reverse, and McNemar's p.
    pub b_vs_a: Paired,
}

/// Two runs (e.g. two verifiers or two coders) on the problems both judged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub common: usize,
    pub strategies: Vec<Compared>,
    pub pass_at_n: Compared,
}

impl Comparison {
    pub fn between(a: &[Record], b: &[Record]) -> Self {
        let key = |r: &Record| (r.task, r.index);
        let b_by_key: BTreeMap<_, &Record> = b.iter().filter(|r| !r.correct.is_empty()).map(|r| (key(r), r)).collect();
        let pairs: Vec<(&Record, &Record)> =
            a.iter().filter(|r| !r.correct.is_empty()).filter_map(|r| b_by_key.get(&key(r)).map(|&other| (r, other))).collect();
        let (left, right_side): (Vec<&Record>, Vec<&Record>) = pairs.iter().copied().unzip();
        let in_both: Vec<&'static str> = strategies_in(&left).into_iter().filter(|s| strategies_in(&right_side).contains(s)).collect();
        let compared = |name: &str, solved: &dyn Fn(&Record) -> bool| {
            Compared {
                strategy: name.to_string(),
                a: Accuracy::of(pairs.iter().filter(|(x, _)| solved(x)).count(), pairs.len()),
                b: Accuracy::of(pairs.iter().filter(|(_, y)| solved(y)).count(), pairs.len()),
                b_vs_a: Paired::of("B", "A", pairs.iter().map(|(x, y)| (solved(y), solved(x)))),
            }
        };
        Self {
            common: pairs.len(),
            strategies: in_both.iter().map(|s| compared(s, &|r| right(r, s))).collect(),
            pass_at_n: compared("pass@n", &|r| r.candidates.iter().any(|c| c.correct == Some(true))),
        }
    }

    pub fn table(&self) -> String {
        let mut out = format!("| strategy | A ({} problems) | B | B vs A |\n|---|---|---|---|\n", self.common);
        for c in self.strategies.iter().chain(std::iter::once(&self.pass_at_n)) {
            let pct = |a: &Accuracy| format!("{:.1}% ({:.1}–{:.1}%)", 100.0 * a.accuracy, 100.0 * a.ci_low, 100.0 * a.ci_high);
            out.push_str(&format!("| {} | {} | {} | {} |\n", c.strategy, pct(&c.a), pct(&c.b), c.b_vs_a.cell()));
        }
        out.push_str("\nB vs A: problems B solved and A did not (+), the reverse (−), exact McNemar p-value.\n");
        out
    }
}
