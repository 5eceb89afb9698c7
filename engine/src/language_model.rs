//! A loaded model with its tokenizer and chat template: what the pipeline and front ends hold.

use burn::tensor::Device;

use crate::EngineError;
use crate::gguf::GgufFile;
use crate::model::{Transformer, load_model};
use crate::tokenizer::{ChatTemplate, Message, Tokenizer};

#[derive(Debug, Clone)]
pub struct LanguageModel {
    pub model: Transformer,
    pub tokenizer: Tokenizer,
    /// `None` when the model has neither a template nor known chat tokens.
    pub chat_template: Option<ChatTemplate>,
}

impl LanguageModel {
    /// Loads weights onto `device`; the tokenizer comes from `tokenizer_json` when given, else
    /// from the GGUF's own vocabulary.
    pub fn load(file: &GgufFile, tokenizer_json: Option<&[u8]>, device: &Device) -> Result<Self, EngineError> {
        let tokenizer = match tokenizer_json {
            Some(json) => Tokenizer::from_json(json, Some(&file.header))?,
            None => Tokenizer::from_gguf(&file.header)?,
        };
        let model = load_model(file, device)?;
        Ok(Self { model, tokenizer, chat_template: ChatTemplate::from_gguf(&file.header).ok() })
    }

    /// Prompt text for one user turn (with an optional system turn) in the model's chat format.
    pub fn chat_prompt(&self, system: Option<&str>, user: &str) -> Result<String, EngineError> {
        let template = self.chat_template.as_ref().ok_or_else(|| {
            EngineError::Tokenizer(crate::tokenizer::TokenizerError::Template("the model has no chat template".into()))
        })?;
        let mut messages = Vec::new();
        if let Some(system) = system {
            messages.push(Message::new("system", system));
        }
        messages.push(Message::new("user", user));
        Ok(template.render(&messages)?)
    }
}
