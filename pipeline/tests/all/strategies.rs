//! Strategy selection on constructed candidate sets whose right pick is known.

use cotnpot_pipeline::answer::Answer;
use cotnpot_pipeline::strategy::{Ballot, best, select, vote};

fn ballot(answer: Option<&str>, score: f64, kept: bool) -> Ballot {
    Ballot { answer: answer.map(Answer::new), score, kept }
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
    let p = select(&ballots);
    assert_eq!(p.majority, Some(0));
    assert_eq!(p.verifier, Some(2), "a candidate without an answer is never picked");
    assert_eq!(p.cotnpot_verifier, Some(2));
    assert_eq!(p.cotnpot_majority, Some(2), "1–1 tie among kept: the first group wins");
    assert_eq!(p.weighted, Some(2));
    assert!(!p.filter_emptied);
}

#[test]
fn an_empty_filter_falls_back_to_the_verifier_over_all() {
    let ballots = vec![ballot(Some("1"), -1.0, false), ballot(Some("2"), -0.5, false), ballot(Some("1"), -2.0, false)];
    let p = select(&ballots);
    assert!(p.filter_emptied);
    assert_eq!(p.majority, Some(0));
    assert_eq!(p.cotnpot_majority, Some(1));
    assert_eq!(p.cotnpot_verifier, Some(1));
}

#[test]
fn nothing_to_pick_gives_none() {
    let ballots = vec![ballot(None, -1.0, false), ballot(None, -0.5, true)];
    let p = select(&ballots);
    assert_eq!((p.majority, p.verifier, p.weighted, p.cotnpot_verifier), (None, None, None, None));
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
