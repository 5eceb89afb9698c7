//! Chat templates: the model's own Jinja template when the GGUF has one, else a built-in format.

use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, Error as JinjaError, ErrorKind, Value as JinjaValue, context};
use serde::{Deserialize, Serialize};

use super::TokenizerError;
use crate::gguf::{GgufHeader, Value};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: &str, content: &str) -> Self {
        Self { role: role.to_string(), content: content.to_string() }
    }
}

/// Formats a built-in template knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuiltinFormat {
    ChatMl,
    Llama3,
}

const CHATML: &str = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}\
{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
const LLAMA3: &str = "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n\
{{ m.content | trim }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}";

#[derive(Debug, Clone)]
pub struct ChatTemplate {
    source: String,
    bos: String,
    eos: String,
}

fn raise_exception(message: String) -> Result<String, JinjaError> {
    Err(JinjaError::new(ErrorKind::InvalidOperation, message))
}

impl ChatTemplate {
    /// The GGUF's `tokenizer.chat_template`, or the built-in format its vocabulary implies.
    pub fn from_gguf(header: &GgufHeader) -> Result<Self, TokenizerError> {
        let tokens = header.get("tokenizer.ggml.tokens").and_then(Value::as_array).unwrap_or(&[]);
        let token = |key: &str| {
            header
                .get(key)
                .and_then(Value::as_u64)
                .and_then(|i| tokens.get(i as usize))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let (bos, eos) = (token("tokenizer.ggml.bos_token_id"), token("tokenizer.ggml.eos_token_id"));
        if let Some(source) = header.get("tokenizer.chat_template").and_then(Value::as_str) {
            return Ok(Self { source: source.to_string(), bos, eos });
        }
        let has = |t: &str| tokens.iter().any(|v| v.as_str() == Some(t));
        let format = if has("<|start_header_id|>") {
            BuiltinFormat::Llama3
        } else if has("<|im_start|>") {
            BuiltinFormat::ChatMl
        } else {
            return Err(TokenizerError::Inconsistent("the model has no chat template and no known chat tokens".into()));
        };
        Ok(Self::builtin(format, bos, eos))
    }

    pub fn builtin(format: BuiltinFormat, bos: String, eos: String) -> Self {
        let source = match format {
            BuiltinFormat::ChatMl => CHATML,
            BuiltinFormat::Llama3 => LLAMA3,
        };
        Self { source: source.to_string(), bos, eos }
    }

    /// The prompt text for `messages`, ending with the assistant's turn opened.
    pub fn render(&self, messages: &[Message]) -> Result<String, TokenizerError> {
        let mut env = Environment::new();
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        // Hugging Face renders chat templates with trim_blocks and lstrip_blocks on.
        let syntax = SyntaxConfig::builder().trim_blocks(true).lstrip_blocks(true).build();
        env.set_syntax(syntax.map_err(|e| TokenizerError::Template(e.to_string()))?);
        let template = env.template_from_str(&self.source).map_err(|e| TokenizerError::Template(e.to_string()))?;
        template
            .render(context! {
                messages => messages
                    .iter()
                    .map(|m| JinjaValue::from_pairs([("role", m.role.as_str()), ("content", m.content.as_str())]))
                    .collect::<Vec<_>>(),
                add_generation_prompt => true,
                bos_token => self.bos.as_str(),
                eos_token => self.eos.as_str(),
            })
            .map_err(|e| TokenizerError::Template(e.to_string()))
    }
}
