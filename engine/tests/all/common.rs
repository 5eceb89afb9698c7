use std::path::PathBuf;

use cotnpot_engine::gguf::GgufFile;

pub const SMOLLM: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
pub const QWEN: &str = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf";
pub const GEMMA: &str = "gemma-3-270m-q4_k_m.gguf";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn model_path(name: &str) -> PathBuf {
    let dir = std::env::var_os("COTNPOT_MODEL_DIR").map(PathBuf::from).unwrap_or_else(|| repo().join(".cache/models"));
    let path = dir.join(name);
    assert!(path.exists(), "{} is missing: run tests/fetch-models.sh", path.display());
    path
}

pub fn model_bytes(name: &str) -> Vec<u8> {
    std::fs::read(model_path(name)).unwrap()
}

pub fn model_file(name: &str) -> GgufFile {
    GgufFile::from_bytes(model_bytes(name)).unwrap()
}

pub fn fixture(name: &str) -> serde_json::Value {
    let path = repo().join("tests/fixtures").join(name);
    serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}
