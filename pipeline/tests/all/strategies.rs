//! Strategy selection on constructed candidate sets whose right pick is known.

use cotnpot_pipeline::answer::Answer;
use cotnpot_pipeline::compare::{Equality, compare_lenient};
use cotnpot_pipeline::strategy::{Ballot, STRATEGIES, best, select, vote};

fn ballot(answer: Option<&str>, score: f64, kept: bool) -> Ballot {
    Ballot { answer: answer.map(Answer::new), program: None, score, kept }
}

/// A candidate whose program printed `program`.
fn with_program(answer: Option<&str>, program: Option<&str>, score: f64) -> Ballot {
    let kept = match (answer, program) {
        (Some(a), Some(p)) => compare_lenient(&Answer::new(a), &Answer::new(p)) == Equality::Equal,
        _ => false,
    };
    Ballot { answer: answer.map(Answer::new), program: program.map(Answer::new), score, kept }
}

fn lenient(a: &Answer, b: &Answer) -> bool {
    compare_lenient(a, b) == Equality::Equal
}

#[test]
fn each_strategy_picks_what_it_should() {
    // Majority says 10 (three votes); the verifier's favourite is 12; the filter keeps only 11 and 12;
    // weighting by exp(score) makes 12's two votes outweigh 10's three.
    let ballots = vec![
        ballot(Some("10"), -3.0, false),
        ballot(Some("10.0"), -3.0, false),
        ballot(Some("12"), -0.1, true),
        ballot(Some("10"), -3.0, false),
        ballot(Some("11"), -0.5, true),
        ballot(None, 5.0, true),
        ballot(Some("12"), -0.2, false),
    ];
    let p = select(&ballots, &lenient);
    assert_eq!(p.candidate("majority"), Some(0));
    assert_eq!(p.candidate("verifier"), Some(2), "a candidate without an answer is never picked");
    assert_eq!(p.candidate("cotnpot_verifier"), Some(2));
    assert_eq!(p.candidate("cotnpot_majority"), Some(2), "1–1 tie among kept: the first group wins");
    assert_eq!(p.candidate("weighted"), Some(2));
    assert_eq!(p.candidate("cotnpot_weighted"), Some(2), "12 (e^-0.1) outweighs 11 (e^-0.5) among the kept");
    // No programs: the joint vote is the majority vote with ties to the better score.
    assert_eq!(p.candidate("joint_vote"), Some(0));
    assert_eq!(p.candidate("joint_weighted"), Some(2));
    assert!(!p.filter_emptied);
    let names: Vec<&str> = p.by_strategy.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, STRATEGIES[1..], "every strategy but greedy, in order");
}

#[test]
fn the_joint_vote_counts_each_solution_and_each_program_once() {
    // Solutions: 5, 5, 7, 7, 7 — majority says 7. Programs: 5, 5, 5, 9, (nothing) — with them,
    // 5 has five votes to 7's three.
    let ballots = vec![
        with_program(Some("5"), Some("5"), -1.0),
        with_program(Some("5"), Some("5.0"), -1.0),
        with_program(Some("7"), Some("5"), -0.2),
        with_program(Some("7"), Some("9"), -0.3),
        with_program(Some("7"), None, -0.4),
    ];
    let p = select(&ballots, &lenient);
    assert_eq!(p.candidate("majority"), Some(2));
    let joint = p.get("joint_vote").unwrap();
    assert_eq!((joint.candidate, joint.answer.normalized.as_str()), (Some(0), "5"));
    // Weighted by exp(score), 5's five votes (4 e^-1 + e^-0.2 ≈ 2.29) still outweigh 7's three
    // (e^-0.2 + e^-0.3 + e^-0.4 ≈ 2.23): candidate 2's program votes for 5 with its weight.
    assert_eq!(p.get("joint_weighted").unwrap().answer.normalized, "5");
    // The filter keeps 0 and 1 (their programs agree), so CoTnPoT + weighted says 5.
    assert_eq!(p.candidate("cotnpot_weighted"), Some(0));
}

#[test]
fn programs_alone_can_win_and_then_no_candidate_is_named() {
    // Every solution disagrees; three programs print 12.
    let ballots = vec![
        with_program(Some("10"), Some("12"), -1.0),
        with_program(Some("11"), Some("12"), -1.0),
        with_program(Some("13"), Some("12"), -1.0),
        with_program(Some("14"), None, -0.1),
    ];
    let p = select(&ballots, &lenient);
    assert!(p.filter_emptied);
    let joint = p.get("joint_vote").unwrap();
    assert_eq!((joint.candidate, joint.answer.raw.as_str()), (None, "12"));
    assert_eq!(p.get("cotnpot_weighted"), Some(joint), "an empty filter falls back to the joint vote");
    assert_eq!(p.candidate("cotnpot_verifier"), Some(3), "the older CoTnPoT strategies fall back to the verifier");
}

#[test]
fn joint_ties_go_to_the_best_verifier_score_and_use_the_given_equality() {
    let ballots = vec![with_program(Some("3"), Some("3"), -2.0), with_program(Some("4"), Some("4"), -0.5)];
    let p = select(&ballots, &lenient);
    assert_eq!(p.candidate("joint_vote"), Some(1), "2–2: candidate 1's score is higher");
    // The filter's equality counts a percentage either way; the vote takes whatever it is given.
    let ballots = vec![
        with_program(Some("45"), Some("0.45"), -1.0),
        with_program(Some("30"), Some("30"), -0.1),
        with_program(Some("0.45"), None, -3.0),
    ];
    assert_eq!(select(&ballots, &lenient).candidate("joint_vote"), Some(0), "45 and 0.45 are one answer");
    let strict = |a: &Answer, b: &Answer| a.normalized == b.normalized;
    assert_eq!(select(&ballots, &strict).candidate("joint_vote"), Some(1));
}

#[test]
fn an_empty_filter_falls_back_to_the_verifier_over_all() {
    let ballots = vec![ballot(Some("1"), -1.0, false), ballot(Some("2"), -0.5, false), ballot(Some("1"), -2.0, false)];
    let p = select(&ballots, &lenient);
    assert!(p.filter_emptied);
    assert_eq!(p.candidate("majority"), Some(0));
    assert_eq!(p.candidate("cotnpot_majority"), Some(1));
    assert_eq!(p.candidate("cotnpot_verifier"), Some(1));
    assert_eq!(p.candidate("cotnpot_weighted"), p.candidate("joint_vote"));
}

#[test]
fn nothing_to_pick_gives_none() {
    let ballots = vec![ballot(None, -1.0, false), ballot(None, -0.5, true)];
    let p = select(&ballots, &lenient);
    assert!(p.by_strategy.iter().all(|(_, pick)| pick.is_none()), "{p:?}");
    assert_eq!(best(&[], |_| true), None);
    assert_eq!(vote(&[], |_| true, |_| 1.0), None);
    // A NaN score (an empty solution) ranks below every real one.
    let ballots = vec![ballot(Some("3"), f64::NAN, true), ballot(Some("4"), -9.0, true)];
    assert_eq!(best(&ballots, |_| true), Some(1));
}

#[test]
fn programs_are_found_in_replies_and_voted_on_by_content() {
    use cotnpot_pipeline::code_key;
    use cotnpot_pipeline::runner::{PotOutcome, extract_code};
    let reply = "Here it is:\n```python\nx = 2\nprint(x)\n```\nand a test:\n```\nassert True\n```";
    assert_eq!(extract_code(reply).as_deref(), Some("x = 2\nprint(x)"));
    assert_eq!(extract_code("```\nprint(1)\n```").as_deref(), Some("print(1)"), "an unlabelled block");
    assert_eq!(extract_code("```python\nprint(1)\nprint(2").as_deref(), Some("print(1)\nprint(2"), "cut off by max tokens");
    assert_eq!(extract_code("print(3)").as_deref(), Some("print(3)"), "a bare program");
    assert_eq!(extract_code("```python\n\n```"), None);
    assert_eq!(code_key("def f(x):\n    return x+1  # add one\n\n"), code_key("def f(x):\n  return   x+1"));
    assert_ne!(code_key("def f(x):\n    return x+1"), code_key("def f(x):\n    return x+2"));
    let printed = PotOutcome::Finished { stdout: "step 1\n42\n\n".into() };
    assert_eq!(printed.result(), Some("42"), "the last non-empty line");
    assert_eq!(PotOutcome::Timeout { stdout: "42".into() }.result(), None, "only a finished run has a result");
}
