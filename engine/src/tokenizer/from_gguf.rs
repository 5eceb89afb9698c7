//! llama.cpp's tokenizers rebuilt from GGUF metadata: byte-level BPE here, SentencePiece in
//! `sentencepiece.rs`.

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, PreTokenizerWrapper, SplitDelimiterBehavior};

use super::sentencepiece::SentencePiece;
use super::{TYPE_CONTROL, TYPE_USER_DEFINED, Tokenizer, TokenizerError, Vocabulary};
use crate::gguf::{GgufHeader, Value};

const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
const LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The regexes llama.cpp applies in sequence for each `tokenizer.ggml.pre` value (llama-vocab.cpp).
fn pre_regexes(pre: &str) -> Option<Vec<&'static str>> {
    Some(match pre {
        "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" => vec![r"\p{N}", GPT2],
        "gpt-2" | "mpt" | "olmo" | "jais" => vec![GPT2],
        "llama3" | "llama-v3" | "llama-bpe" | "dbrx" | "smaug-bpe" | "falcon3" => vec![LLAMA3],
        "qwen2" | "stablelm2" | "hunyuan" | "deepseek-r1-qwen" => vec![QWEN2],
        _ => return None,
    })
}


fn strings<'a>(header: &'a GgufHeader, key: &str) -> Result<Vec<&'a str>, TokenizerError> {
    let items = header
        .require(key)?
        .as_array()
        .ok_or_else(|| TokenizerError::Inconsistent(format!("{key} is not an array")))?;
    items
        .iter()
        .map(|v| v.as_str().ok_or_else(|| TokenizerError::Inconsistent(format!("{key} holds a non-string"))))
        .collect()
}

pub(super) fn build(header: &GgufHeader) -> Result<Tokenizer, TokenizerError> {
    let model = header.str("tokenizer.ggml.model")?;
    if model != "gpt2" && model != "llama" {
        return Err(TokenizerError::UnsupportedModel(model.to_string()));
    }
    let tokens = strings(header, "tokenizer.ggml.tokens")?;
    let types: Vec<i64> = match header.get("tokenizer.ggml.token_type").and_then(Value::as_array) {
        Some(items) => items.iter().map(|v| v.as_i64().unwrap_or(1)).collect(),
        None => vec![1; tokens.len()],
    };
    if types.len() != tokens.len() {
        return Err(TokenizerError::Inconsistent(format!("{} tokens but {} token types", tokens.len(), types.len())));
    }
    let inner = if model == "llama" {
        let pieces = tokens.iter().map(|t| t.to_string()).collect();
        Vocabulary::SentencePiece(Box::new(SentencePiece::from_gguf(header, pieces, types)?))
    } else {
        Vocabulary::Bpe(Box::new(byte_level_bpe(header, &tokens, &types)?))
    };
    let id = |key: &str| header.get(key).and_then(Value::as_u64).map(|v| v as u32);
    // llama.cpp's default: SentencePiece vocabularies start with BOS unless the file says not.
    let add_bos = header.get("tokenizer.ggml.add_bos_token").and_then(Value::as_bool).unwrap_or(model == "llama");
    let mut tokenizer = Tokenizer {
        bos: id("tokenizer.ggml.bos_token_id"),
        eos: id("tokenizer.ggml.eos_token_id"),
        stop_ids: Vec::new(),
        add_bos,
        vocab_size: tokens.len(),
        inner,
    };
    tokenizer.stop_ids = tokenizer.end_of_turn_ids();
    Ok(tokenizer)
}

fn byte_level_bpe(header: &GgufHeader, tokens: &[&str], types: &[i64]) -> Result<tokenizers::Tokenizer, TokenizerError> {
    let pre = header.get("tokenizer.ggml.pre").and_then(Value::as_str).unwrap_or("default");
    let regexes = pre_regexes(pre).ok_or_else(|| TokenizerError::UnsupportedPre(pre.to_string()))?;
    let merges = strings(header, "tokenizer.ggml.merges")?
        .into_iter()
        .map(|m| {
            m.split_once(' ')
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .ok_or_else(|| TokenizerError::Inconsistent(format!("merge {m:?} has no space")))
        })
        .collect::<Result<Vec<_>, _>>()?;

    let vocab: tokenizers::models::bpe::Vocab = tokens.iter().enumerate().map(|(i, t)| (t.to_string(), i as u32)).collect();
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(|e| TokenizerError::Library(e.to_string()))?;

    let mut pre_tokenizers: Vec<PreTokenizerWrapper> = Vec::new();
    for regex in regexes {
        let split = Split::new(SplitPattern::Regex(regex.to_string()), SplitDelimiterBehavior::Isolated, false)?;
        pre_tokenizers.push(split.into());
    }
    pre_tokenizers.push(ByteLevel::new(false, false, false).into());

    let mut inner = tokenizers::Tokenizer::new(bpe);
    inner.with_pre_tokenizer(Some(Sequence::new(pre_tokenizers)));
    inner.with_decoder(Some(ByteLevelDecoder::default()));

    // llama.cpp matches control and user-defined tokens in the text before BPE.
    let added = |t: i64, special: bool| {
        tokens
            .iter()
            .zip(types)
            .filter(move |&(_, &ty)| ty == t)
            .map(move |(tok, _)| AddedToken::from(tok.to_string(), special).normalized(false))
            .collect::<Vec<_>>()
    };
    inner.add_special_tokens(added(TYPE_CONTROL, true))?;
    inner.add_tokens(added(TYPE_USER_DEFINED, false))?;
    Ok(inner)
}
