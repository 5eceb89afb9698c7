//! `report`'s statistics against known values, its paired counts on constructed records, and
//! the strategies recomputed from the committed GSM8K records.

use std::collections::BTreeMap;
use std::time::Duration;

use cotnpot_pipeline::answer::Answer;
use cotnpot_pipeline::compare::EqualityTable;
use cotnpot_pipeline::decide::decide;
use cotnpot_pipeline::record::{CandidateRecord, Record, Timings};
use cotnpot_pipeline::report::{Comparison, Report};
use cotnpot_pipeline::sandbox::{BubblewrapRunner, SandboxLimits};
use cotnpot_pipeline::stats::{mcnemar_exact, wilson_95};
use cotnpot_pipeline::task::Task;

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn intervals_and_p_values_match_their_textbook_values() {
    // Wilson at 50/100: 0.4038–0.5962; at 0/10 the upper end is z²/(n + z²) = 0.2775.
    let (lo, hi) = wilson_95(50, 100);
    assert!(close(lo, 0.4038, 1e-4) && close(hi, 0.5962, 1e-4), "{lo} {hi}");
    let (lo, hi) = wilson_95(0, 10);
    assert!(lo == 0.0 && close(hi, 0.2775, 1e-4), "{lo} {hi}");
    let (lo, hi) = wilson_95(10, 10);
    assert!(close(lo, 0.7225, 1e-4) && hi == 1.0, "{lo} {hi}");
    // Exact McNemar: 2 of 14 discordant → 2 · (1 + 14 + 91) / 2^14; 0 of 5 → 2/32; 10 of 20 → 1.
    assert!(close(mcnemar_exact(12, 2), 2.0 * 106.0 / 16384.0, 1e-12));
    assert!(close(mcnemar_exact(0, 5), 0.0625, 1e-12));
    assert_eq!(mcnemar_exact(10, 10), 1.0);
    assert_eq!(mcnemar_exact(0, 0), 1.0);
    // Large counts do not underflow: 400 vs 600 is far from a fair split.
    let p = mcnemar_exact(400, 600);
    assert!(p > 0.0 && p < 1e-9, "{p}");
}

fn candidate(correct: bool) -> CandidateRecord {
    CandidateRecord { cot: String::new(), tokens: 1, answer: Some("1".into()), pot_code: None, pot_outcome: None, pot_result: None, kept: false, score: None, correct: Some(correct) }
}

/// A record in which `strategy` is right exactly for the names given.
fn record(index: usize, right: &[&str]) -> Record {
    let names = ["greedy", "majority", "joint_vote"];
    Record {
        index,
        task: Task::Gsm8k,
        question: String::new(),
        gold: Some("1".into()),
        candidates: vec![candidate(!right.is_empty())],
        greedy: candidate(right.contains(&"greedy")),
        picks: names.iter().map(|n| (n.to_string(), None)).collect(),
        correct: names.iter().map(|n| (n.to_string(), right.contains(n))).collect(),
        picked_candidate: BTreeMap::new(),
        filter_emptied: false,
        tokens: 0,
        seconds: 0.0,
        timings: Timings::default(),
        provenance: None,
    }
}

#[test]
fn paired_counts_are_taken_on_the_same_problems() {
    // joint_vote alone right on 3 problems, majority alone on 1, both on 2, neither on 4.
    let mut records = Vec::new();
    for i in 0..3 {
        records.push(record(i, &["joint_vote"]));
    }
    records.push(record(3, &["majority", "greedy"]));
    for i in 4..6 {
        records.push(record(i, &["majority", "joint_vote"]));
    }
    for i in 6..10 {
        records.push(record(i, &[]));
    }
    let report = Report::from_records(&records);
    assert_eq!(report.judged, 10);
    assert_eq!(report.strategies["joint_vote"].correct, 5);
    assert!(report.missing.contains(&"cotnpot_weighted".to_string()), "older records lack the new strategies");
    let vs_majority = report.paired.iter().find(|p| p.strategy == "joint_vote" && p.against == "majority").unwrap();
    assert_eq!((vs_majority.wins, vs_majority.losses), (3, 1));
    assert!(close(vs_majority.p_value, 2.0 * 5.0 / 16.0, 1e-12));
    let vs_greedy = report.paired.iter().find(|p| p.strategy == "majority" && p.against == "greedy").unwrap();
    assert_eq!((vs_greedy.wins, vs_greedy.losses), (2, 0));
    assert!(report.table().contains("| joint_vote | 50.0% | 23.7–76.3% | +3 −1, p = 0.625 |"), "{}", report.table());

    // B solves problem 6 too and loses problem 0; A's extra problem 10 is not in B.
    let a: Vec<Record> = records.iter().cloned().chain(std::iter::once(record(10, &["joint_vote"]))).collect();
    let mut b = records.clone();
    b[0] = record(0, &[]);
    b[6] = record(6, &["joint_vote"]);
    let c = Comparison::between(&a, &b);
    assert_eq!(c.common, 10);
    let joint = c.strategies.iter().find(|s| s.strategy == "joint_vote").unwrap();
    assert_eq!((joint.a.correct, joint.b.correct, joint.b_vs_a.wins, joint.b_vs_a.losses), (5, 5, 1, 1));
}

fn runner() -> BubblewrapRunner {
    BubblewrapRunner::with_limits(SandboxLimits { timeout: Duration::from_secs(20), ..SandboxLimits::default() })
}

#[test]
fn symbolic_answers_are_settled_by_one_sympy_run() {
    let answers: Vec<Answer> = ["\\frac{\\sqrt{2}}{2}", "1/\\sqrt{2}", "\\sqrt{3}", "0.5", "\\frac{1}{2}"].iter().map(|s| Answer::new(s)).collect();
    let table = pollster::block_on(EqualityTable::build(&answers, &runner()));
    assert!(table.same(&answers[0], &answers[1]), "√2/2 = 1/√2");
    assert!(!table.same(&answers[0], &answers[2]));
    assert!(table.same(&answers[3], &answers[4]), "numbers need no sympy");
    assert!(table.same(&answers[1], &answers[0]), "either order");
}

#[test]
fn recomputing_the_committed_gsm8k_records_reproduces_their_picks_and_adds_the_joint_vote() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/gsm8k-qwen2.5-coder-0.5b-n8.jsonl");
    let records: Vec<Record> = std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len(), 100);
    let runner = runner();
    let mut recomputed = records.clone();
    for r in &mut recomputed {
        pollster::block_on(decide(r.task, r.gold.as_deref(), &r.candidates, &r.greedy, &runner)).apply(r);
    }
    for (old, new) in records.iter().zip(&recomputed) {
        for (name, correct) in &old.correct {
            assert_eq!(new.correct[name], *correct, "problem {} {name}", old.index);
            assert_eq!(new.picked_candidate[name], old.picked_candidate[name], "problem {} {name}", old.index);
        }
        assert_eq!(new.filter_emptied, old.filter_emptied);
    }
    // The figures the page's headline quotes.
    let report = Report::from_records(&recomputed);
    assert!(report.missing.is_empty());
    let correct = |s: &str| report.strategies[s].correct;
    assert_eq!((correct("greedy"), correct("majority"), correct("joint_vote"), correct("cotnpot_weighted")), (28, 35, 46, 46), "{}", report.table());
    // Why the filter emptied the set on 16 problems (BENCHMARKS.md): mostly disagreement.
    let emptied = &report.programs_when_emptied;
    assert_eq!((emptied["disagreed"], emptied["raised an error"], emptied["printed nothing"]), (101, 26, 1), "{emptied:?}");
}
