//! `cotnpot bench`'s command-line contract: `--json` prints exactly the engine issue's fields
//! (other tools read them), with or without an adapter, and a wrong adapter is refused plainly.

use std::path::PathBuf;
use std::process::{Command, Output};

const FIELDS: [&str; 11] = [
    "load_s",
    "prefill_tok_s",
    "decode_tok_s_batch1",
    "decode_tok_s_batch8",
    "score_8x256_s",
    "dispatches_per_token_batch1",
    "host_ms_per_token_batch1",
    "host_ms_per_step_batch8",
    "peak_mem_mb",
    "backend",
    "model",
];

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
    bench_on("flex", model, extra)
}

fn bench_on(backend: &str, model: &PathBuf, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cotnpot"))
        .env("XDG_RUNTIME_DIR", std::env::var_os("XDG_RUNTIME_DIR").unwrap_or_else(|| std::env::temp_dir().into_os_string()))
        .args(["bench", "--backend", backend, "--steps", "2", "--json", "--model"])
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
        for field in ["dispatches_per_token_batch1", "host_ms_per_token_batch1", "host_ms_per_step_batch8"] {
            assert!(report[field].is_null(), "{field}: the CPU backend launches no kernels");
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

/// On wgpu the decode steps' kernel launches are counted, and `--decode-only` leaves prefill and
/// scoring out (null).
#[test]
fn bench_counts_launches_on_wgpu() {
    let report = json_report(&bench_on("wgpu", &model("SmolLM2-135M-Instruct.Q4_1.gguf"), &["--decode-only"]));
    let launches = report["dispatches_per_token_batch1"].as_f64().expect("launches counted on wgpu");
    // SmolLM2 has 30 layers: at least one launch each, and far fewer than the ~530 a step took
    // before the fused step.
    assert!((30.0..=400.0).contains(&launches), "{launches} launches a token");
    assert!(report["prefill_tok_s"].is_null() && report["score_8x256_s"].is_null(), "{report:?}");
    for field in ["decode_tok_s_batch1", "decode_tok_s_batch8", "host_ms_per_token_batch1", "host_ms_per_step_batch8"] {
        assert!(report[field].as_f64().is_some_and(|v| v.is_finite() && v > 0.0), "{field} = {}", report[field]);
    }
}
