//! Text ↔ token ids: byte-level BPE through the `tokenizers` crate (from a `tokenizer.json` or a
//! GGUF's own vocab), SentencePiece vocabularies as llama.cpp reads them from a GGUF.

mod chat;
mod from_gguf;
mod sentencepiece;

pub use chat::{BuiltinFormat, ChatTemplate, Message};

use thiserror::Error;

use crate::gguf::{GgufError, GgufHeader};

// ggml token types (`tokenizer.ggml.token_type`).
const TYPE_UNKNOWN: i64 = 2;
const TYPE_CONTROL: i64 = 3;
const TYPE_USER_DEFINED: i64 = 4;
const TYPE_BYTE: i64 = 6;

#[derive(Debug, Error)]
pub enum TokenizerError {
    #[error("GGUF tokenizer metadata: {0}")]
    Gguf(#[from] GgufError),
    #[error("tokenizer model {0:?} is not supported (supported: \"gpt2\" byte-level BPE, \"llama\" SentencePiece)")]
    UnsupportedModel(String),
    #[error("pre-tokenizer {0:?} is not supported")]
    UnsupportedPre(String),
    #[error("tokenizer metadata is inconsistent: {0}")]
    Inconsistent(String),
    #[error("tokenizers: {0}")]
    Library(String),
    #[error("chat template: {0}")]
    Template(String),
    #[error("token id {id} is outside the vocabulary of {vocab}")]
    UnknownId { id: u32, vocab: usize },
}

impl From<tokenizers::Error> for TokenizerError {
    fn from(e: tokenizers::Error) -> Self {
        TokenizerError::Library(e.to_string())
    }
}

/// How a vocabulary turns text into ids.
#[derive(Debug, Clone)]
enum Vocabulary {
    Bpe(Box<tokenizers::Tokenizer>),
    SentencePiece(Box<sentencepiece::SentencePiece>),
}

/// A tokenizer plus the special ids generation needs.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    inner: Vocabulary,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    /// Ids that end a turn besides `eos` (e.g. ChatML's `<|im_end|>`, `<|endoftext|>`).
    pub stop_ids: Vec<u32>,
    pub add_bos: bool,
    vocab_size: usize,
}

impl Tokenizer {
    /// Built from the GGUF's `tokenizer.ggml.*` metadata, matching llama.cpp's tokenizer.
    pub fn from_gguf(header: &GgufHeader) -> Result<Self, TokenizerError> {
        from_gguf::build(header)
    }

    /// From a Hugging Face `tokenizer.json`; special ids are taken from the GGUF when given.
    pub fn from_json(json: &[u8], header: Option<&GgufHeader>) -> Result<Self, TokenizerError> {
        let inner = tokenizers::Tokenizer::from_bytes(json)?;
        let vocab_size = inner.get_vocab_size(true);
        let id = |key: &str| header.and_then(|h| h.get(key)).and_then(|v| v.as_u64()).map(|v| v as u32);
        let add_bos = header.and_then(|h| h.get("tokenizer.ggml.add_bos_token")).and_then(|v| v.as_bool()).unwrap_or(false);
        let mut tokenizer = Self {
            bos: id("tokenizer.ggml.bos_token_id"),
            eos: id("tokenizer.ggml.eos_token_id"),
            stop_ids: Vec::new(),
            add_bos,
            vocab_size,
            inner: Vocabulary::Bpe(Box::new(inner)),
        };
        tokenizer.stop_ids = tokenizer.end_of_turn_ids();
        Ok(tokenizer)
    }

    fn end_of_turn_ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = ["<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end_of_text|>", "</s>", "<end_of_turn>"]
            .iter()
            .filter_map(|t| self.token_to_id(t))
            .collect();
        ids.extend(self.eos);
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Token ids of `text`; special tokens written in the text are recognised as such.
    /// `add_bos` follows the model's own `add_bos_token` flag, unless the text already begins
    /// with the BOS token (as chat templates that write `bos_token` render it).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        let plain = self.encode_plain(text)?;
        match self.bos {
            Some(bos) if self.add_bos && plain.first() != Some(&bos) => Ok([bos].into_iter().chain(plain).collect()),
            _ => Ok(plain),
        }
    }

    /// Token ids without any BOS, whatever the model's flag.
    pub fn encode_plain(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        match &self.inner {
            Vocabulary::Bpe(t) => Ok(t.encode_fast(text, false)?.get_ids().to_vec()),
            Vocabulary::SentencePiece(t) => t.encode(text),
        }
    }

    /// Text of ids; special tokens are kept (a caller strips them if it wants).
    pub fn decode(&self, ids: &[u32]) -> Result<String, TokenizerError> {
        if let Some(&id) = ids.iter().find(|&&id| id as usize >= self.vocab_size) {
            return Err(TokenizerError::UnknownId { id, vocab: self.vocab_size });
        }
        match &self.inner {
            Vocabulary::Bpe(t) => Ok(t.decode(ids, false)?),
            Vocabulary::SentencePiece(t) => Ok(t.decode(ids)),
        }
    }

    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        match &self.inner {
            Vocabulary::Bpe(t) => t.token_to_id(token),
            Vocabulary::SentencePiece(t) => t.token_to_id(token),
        }
    }

    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    pub fn is_stop(&self, id: u32) -> bool {
        self.stop_ids.contains(&id)
    }
}
