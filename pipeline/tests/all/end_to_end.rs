//! One GSM8K problem through the whole pipeline on SmolLM2-135M (CPU): the record must be
//! complete and consistent. Its accuracy is not the point; the model is far too small.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use cotnpot_engine::gguf::GgufFile;
use cotnpot_engine::{Device, LanguageModel};
use cotnpot_pipeline::answer::Answer;
use cotnpot_pipeline::report::Report;
use cotnpot_pipeline::sandbox::{BubblewrapRunner, SandboxLimits};
use cotnpot_pipeline::strategy::STRATEGIES;
use cotnpot_pipeline::task::{Problem, Task};
use cotnpot_pipeline::{Event, Models, Pipeline, Settings};

use crate::shared_data;

fn smollm() -> LanguageModel {
    let dir = std::env::var_os("COTNPOT_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.cache/models"));
    let bytes = std::fs::read(dir.join("SmolLM2-135M-Instruct.Q4_1.gguf")).expect("run tests/fetch-models.sh");
    LanguageModel::load(&GgufFile::from_bytes(bytes).unwrap(), None, &Device::flex()).unwrap()
}

#[test]
fn one_problem_end_to_end_gives_a_complete_consistent_record() {
    let lm = smollm();
    let runner = BubblewrapRunner::with_limits(SandboxLimits { timeout: Duration::from_secs(5), ..SandboxLimits::default() });
    let clock = Instant::now();
    let now = move || clock.elapsed().as_secs_f64();
    let n = 3;
    let settings = Settings { n, max_solution_tokens: 96, max_program_tokens: 96, seed: 7, ..Settings::default() };
    let pipeline = Pipeline { models: Models { reasoner: &lm, coder: &lm, verifier: &lm }, runner: &runner, settings, now: &now };
    let problem = Problem::parse_file(Task::Gsm8k, &shared_data("gsm8k_test_dev.jsonl")).unwrap().remove(1);

    let mut events = Vec::new();
    let record = pollster::block_on(pipeline.run(&problem, &mut |e| events.push(e), &|| false)).unwrap();

    assert_eq!(record.index, 1);
    assert_eq!(record.gold.as_deref(), Some("3"));
    assert_eq!(record.candidates.len(), n);
    // The streamed tokens are exactly each candidate's text.
    for (i, c) in record.candidates.iter().enumerate() {
        let streamed: String = events.iter().filter_map(|e| match e { Event::Token { cand, text } if *cand == i => Some(text.as_str()), _ => None }).collect();
        assert_eq!(streamed, c.cot);
        assert!(c.tokens > 0 && c.score.is_some_and(|s| s < 0.0), "{c:?}");
        assert!(c.correct.is_some());
        assert_eq!(c.pot_code.is_some(), c.pot_outcome.is_some(), "every program was run");
        if c.kept {
            assert!(c.answer.is_some() && c.pot_result.is_some(), "kept means answer and result agree: {c:?}");
        }
        if c.answer.is_none() {
            assert!(c.pot_code.is_none() && !c.kept, "no answer, no program: {c:?}");
        }
        if let Some(result) = &c.pot_result {
            assert!(matches!(c.pot_outcome, Some(cotnpot_pipeline::runner::PotOutcome::Finished { .. })));
            let printed = cotnpot_pipeline::answer::printed_answer(result);
            let equal = printed.is_some_and(|p| cotnpot_pipeline::compare::compare_lenient(&Answer::new(c.answer.as_deref().unwrap()), &p) == cotnpot_pipeline::compare::Equality::Equal);
            assert_eq!(c.kept, equal, "{c:?}");
        }
    }
    for s in STRATEGIES {
        assert!(record.picks.contains_key(s) && record.correct.contains_key(s), "{s} missing");
    }
    for (name, pick) in &record.picked_candidate {
        if name == "greedy" {
            continue;
        }
        match pick {
            Some(i) => {
                assert_eq!(record.picks[name], record.candidates[*i].answer, "{name}");
                assert_eq!(record.correct[name], record.candidates[*i].correct.unwrap_or(false), "{name}");
            }
            // Only a joint vote can be won by programs alone, and then it picked a printed result.
            None => assert!(
                record.picks[name].is_none() || (name.starts_with("joint") || name == "cotnpot_weighted") && record.candidates.iter().any(|c| c.pot_result == record.picks[name]),
                "{name}: {:?}",
                record.picks[name]
            ),
        }
    }
    assert_eq!(record.filter_emptied, !record.candidates.iter().any(|c| c.kept && c.answer.is_some()));
    if let Some(v) = record.picked_candidate["verifier"] {
        let top = record.candidates.iter().filter(|c| c.answer.is_some()).filter_map(|c| c.score).fold(f64::MIN, f64::max);
        assert_eq!(record.candidates[v].score, Some(top), "the verifier picks the best score");
    }
    assert!(!record.greedy.cot.is_empty());
    let generated: usize = record.candidates.iter().map(|c| c.tokens).sum::<usize>() + record.greedy.tokens;
    assert!(record.tokens >= generated);
    assert!(record.seconds > 0.0 && record.timings.sample > 0.0);

    // The record survives a JSONL round trip and feeds the report.
    let line = serde_json::to_string(&record).unwrap();
    let back: cotnpot_pipeline::record::Record = serde_json::from_str(&line).unwrap();
    assert_eq!(back, record);
    let report = Report::from_records(&[back]);
    assert_eq!((report.problems, report.judged, report.n), (1, 1, n));
    assert!(report.table().contains("cotnpot_verifier"));
}
