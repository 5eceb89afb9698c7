//! `cotnpot report`'s command-line contract on the committed GSM8K records: `--json` prints one
//! object with every strategy's accuracy and interval (fractions) and the paired tests; without
//! `--recompute` the strategies the records predate are named as missing; two files compare runs.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn records() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../results/gsm8k-qwen2.5-coder-0.5b-n8.jsonl")
}

fn report(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_cotnpot")).arg("report").args(args).output().expect("cotnpot runs");
    assert!(out.status.success(), "report failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn json_holds_each_strategy_with_its_interval_and_the_paired_tests() {
    let file = records();
    let stdout = report(&["--json", "--recompute", file.to_str().unwrap()]);
    assert_eq!(stdout.lines().count(), 1, "one line of JSON");
    let json: Value = serde_json::from_str(&stdout).unwrap();
    let strategies = json["strategies"].as_object().unwrap();
    assert_eq!(strategies.len(), 9, "{strategies:?}");
    for (name, s) in strategies {
        let (acc, lo, hi) = (s["accuracy"].as_f64().unwrap(), s["ci_low"].as_f64().unwrap(), s["ci_high"].as_f64().unwrap());
        assert!((0.0..=1.0).contains(&acc) && lo <= acc && acc <= hi && hi <= 1.0, "{name}: {s}");
    }
    assert_eq!(strategies["majority"]["accuracy"].as_f64(), Some(0.35));
    let paired = json["paired"].as_array().unwrap();
    let joint = paired.iter().find(|p| p["strategy"] == "joint_vote" && p["against"] == "majority").unwrap();
    assert!(joint["p_value"].as_f64().unwrap() < 0.01, "{joint}");
}

#[test]
fn old_records_name_what_they_lack_and_two_runs_compare() {
    let file = records();
    let table = report(&[file.to_str().unwrap()]);
    assert!(table.contains("not in these records: joint_vote, cotnpot_weighted, joint_weighted"), "{table}");
    assert!(table.contains("| majority | 35.0% | 26.4–44.7% |"), "{table}");
    let both = report(&["--recompute", file.to_str().unwrap(), file.to_str().unwrap()]);
    assert!(both.contains("| joint_vote | 46.0% (36.6–55.7%) | 46.0% (36.6–55.7%) | +0 −0, p = 1.000 |"), "{both}");
}
