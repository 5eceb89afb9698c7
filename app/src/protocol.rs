//! The typed messages between the page and the engine worker, sent as JSON strings (model bytes
//! from a local file travel beside the JSON as a transferred ArrayBuffer).

use cotnpot_pipeline::record::Record;
use cotnpot_pipeline::runner::PotOutcome;
use cotnpot_pipeline::task::Problem;
use cotnpot_pipeline::{Event, Settings};
use serde::{Deserialize, Serialize};

/// The three roles a model can fill in the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Reasoner,
    Coder,
    Verifier,
}

impl Role {

    pub fn label(self) -> &'static str {
        match self {
            Role::Reasoner => "Reasoner",
            Role::Coder => "Coder",
            Role::Verifier => "Verifier",
        }
    }
}

/// Where a model's bytes come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelSource {
    /// A GGUF at a URL (a Hub `resolve` URL, or a file under the page's own `models/`), with an
    /// optional `tokenizer.json` beside it, and the sha256 a preset expects of the file.
    Url { gguf: String, tokenizer: Option<String>, sha256: Option<String> },
    /// A file the user picked; its bytes are sent with the message.
    LocalFile { name: String },
    /// The model already loaded in another role (one copy of the weights).
    SameAs { role: Role },
    /// A trained verifier adapter (`cotnpot train-verifier`, safetensors) on the model loaded as
    /// `base`, sharing its weights. The bytes come from `url`, or with the message when it is
    /// `None`.
    Adapter { base: Role, name: String, url: Option<String> },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToEngine {
    /// Pick the device (`DeviceChoice`) and report it.
    Init { device: DeviceChoice },
    Load { role: Role, source: ModelSource },
    /// `run` tags every message of this run, so the page can drop those of a run it stopped.
    Solve { run: u64, problem: Problem, settings: Settings },
    /// What the model at `url` would need on the GPU for `rows` sequences of `new_tokens` each,
    /// from its header alone (fetched with a range request), before any download.
    Inspect { role: Role, url: String, rows: usize, new_tokens: usize },
    /// Raw greedy or sampled generation with the reasoner (the page's model check).
    Generate { prompt: String, max_tokens: usize },
    /// Runs a program in the pipeline's own Python worker, under the same limits.
    RunPython { code: String },
    Stop,
    ListCache,
    ClearCache,
}

/// Where the engine runs: the page's choice. `Auto` takes the WebGPU adapter when the browser
/// offers a hardware one, and the CPU (burn's flex backend in WebAssembly) when it offers none or
/// only a software one (a fallback adapter such as SwiftShader, on which the CPU path decodes
/// about ten times faster: BENCHMARKS.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceChoice {
    #[default]
    Auto,
    Gpu,
    Cpu,
}

impl DeviceChoice {
    pub fn from_name(name: &str) -> Option<DeviceChoice> {
        match name {
            "auto" => Some(DeviceChoice::Auto),
            "gpu" => Some(DeviceChoice::Gpu),
            "cpu" => Some(DeviceChoice::Cpu),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DeviceChoice::Auto => "auto",
            DeviceChoice::Gpu => "gpu",
            DeviceChoice::Cpu => "cpu",
        }
    }
}

/// The device the engine runs on.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RunsOn {
    Gpu { adapter: AdapterInfo },
    /// The CPU, one thread of WebAssembly with 128-bit SIMD; `why`: there was no adapter (the
    /// reason), or the page chose it.
    Cpu { why: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdapterInfo {
    pub description: String,
    /// A software adapter (WebGPU's `isFallbackAdapter`, e.g. SwiftShader).
    pub fallback: bool,
    pub shader_f16: bool,
    pub max_buffer_size: f64,
    pub max_storage_buffer_binding_size: f64,
}

/// The device memory a model would take (`cotnpot_engine::fit`), in bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitEstimate {
    pub url: String,
    pub architecture: String,
    pub rows: usize,
    pub new_tokens: usize,
    pub weights: f64,
    pub kv_cache: f64,
    pub activations: f64,
    pub largest_buffer: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CacheEntry {
    pub url: String,
    pub bytes: f64,
}

/// What went wrong, in the categories the page offers different remedies for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// No WebGPU adapter/device: the page explains what to try.
    NoWebGpu,
    /// The download failed: the page offers a retry.
    Download,
    /// The file is not a model this engine can run.
    Model,
    /// The GPU was lost or ran out of memory: the page offers a reload.
    Gpu,
    /// The run itself failed.
    Run,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromEngine {
    Ready { runs_on: RunsOn },
    Progress { role: Role, url: String, loaded: f64, total: Option<f64>, from_cache: bool },
    Loaded { role: Role, name: String, bytes: f64, seconds: f64, weights_mb: f64, architecture: String },
    /// What a model would need, or why that could not be told.
    Fit { role: Role, estimate: Result<FitEstimate, String> },
    /// A role that rode on another role's weights (the same model, or an adapter on it) was
    /// dropped because that model was replaced; it now falls back to the reasoner.
    Unloaded { role: Role },
    Event { run: u64, event: Event },
    Done { run: u64, record: Record },
    Generated { tokens: Vec<u32>, text: String, first_token_seconds: f64, tokens_per_second: f64 },
    /// The engine ended a run (or a model check) early because Stop was pressed.
    Stopped { run: Option<u64> },
    PythonRan { outcome: PotOutcome, seconds: f64 },
    Cache { entries: Vec<CacheEntry> },
    Error { kind: ErrorKind, role: Option<Role>, message: String },
}
