//! `cotnpot bench`'s command-line contract: `--json` prints exactly the engine issue's fields
//! (other tools read them), with or without an adapter, and a wrong adapter is refused plainly.

use std::path::PathBuf;
use std::process::{Command, Output};

const FIELDS: [&str; 8] = ["load_s", "prefill_tok_s", "decode_tok_s_batch1", "decode_tok_s_batch8", "score_8x256_s", "peak_mem_mb", "backend", "model"];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn model(name: &str) -> PathBuf {
    let dir = std::env::var_os("COTNPOT_MODEL_DIR").map(PathBuf::from).unwrap_or_else(|| repo().join(".cache/models"));
    let path = dir.join(name);
    assert!(path.exists(), "{} is missing: run tests/fetch-models.sh", path.display());
    path
}

fn adapter() -> PathBuf {
    repo().join("adapters/smollm2-135m-gsm8k-simpo/adapter.safetensors")
}

fn bench(model: &PathBuf, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cotnpot"))
        .args(["bench", "--backend", "flex", "--steps", "2", "--json", "--model"])
        .arg(model)
        .args(extra)
        .output()
        .expect("cotnpot runs")
}

fn json_report(out: &Output) -> serde_json::Map<String, serde_json::Value> {
    assert!(out.status.success(), "bench failed: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(stdout.lines().count(), 1, "one line of JSON, got {stdout:?}");
    let serde_json::Value::Object(report) = serde_json::from_str(&stdout).unwrap() else { panic!("not an object: {stdout}") };
    report
}

#[test]
fn bench_json_has_exactly_the_issue_fields_with_and_without_an_adapter() {
    let smollm = model("SmolLM2-135M-Instruct.Q4_1.gguf");
    let adapter = adapter();
    for (extra, mode) in [(vec![], "none"), (vec!["--adapter", adapter.to_str().unwrap()], "low-rank"), (vec!["--adapter", adapter.to_str().unwrap(), "--merge-adapter"], "merged")] {
        let out = bench(&smollm, &extra);
        let report = json_report(&out);
        let mut keys: Vec<&str> = report.keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut want = FIELDS.to_vec();
        want.sort_unstable();
        assert_eq!(keys, want, "adapter {mode}");
        for rate in ["prefill_tok_s", "decode_tok_s_batch1", "decode_tok_s_batch8", "score_8x256_s"] {
            assert!(report[rate].as_f64().is_some_and(|v| v.is_finite() && v > 0.0), "{rate} = {}", report[rate]);
        }
        assert_eq!(report["model"], "SmolLM2-135M-Instruct.Q4_1.gguf");
        assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("adapter: {mode}")), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn bench_refuses_an_adapter_trained_on_another_model() {
    let out = bench(&model("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"), &["--adapter", adapter().to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("was trained on SmolLM2-135M-Instruct.Q4_1.gguf"), "{stderr}");
    assert!(out.stdout.is_empty());
}
