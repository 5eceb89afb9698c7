use thiserror::Error;

use crate::gguf::GgufError;
use crate::model::LoadError;
use crate::tokenizer::TokenizerError;

/// Errors the engine's entry points return.
#[derive(Debug, Error)]
pub enum EngineError {
    #[error(transparent)]
    Gguf(#[from] GgufError),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    #[error("reading results back from the device failed: {0}")]
    Device(String),
    #[error("the prompt is empty")]
    EmptyPrompt,
    #[error("a solution to score has no tokens")]
    EmptyContinuation,
    #[error("{needed} positions exceed the model's context of {context}")]
    ContextOverflow { needed: usize, context: usize },
    #[error("token id {id} is outside the vocabulary of {vocab}")]
    BadToken { id: u32, vocab: usize },
}
