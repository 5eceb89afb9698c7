//! The CoTnPoT method on top of the engine: N sampled solutions, each checked by a program that
//! follows it, ranked by a verifier. Target-agnostic, so the page and the CLI run the same code.

pub mod answer;
pub mod compare;
pub mod decide;
mod pipeline;
pub mod pairs;
pub mod prompts;
pub mod record;
pub mod report;
pub mod runner;
#[cfg(not(target_arch = "wasm32"))]
pub mod sandbox;
pub mod stats;
pub mod strategy;
pub mod task;

pub use pipeline::{Event, Models, Pipeline, PipelineError, Settings, Stage, code_key};
