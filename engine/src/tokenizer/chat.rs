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
    /// Gemma's turns: no system role (its text opens the first user turn), `model` for the assistant.
    Gemma,
}

const CHATML: &str = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}\
{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
const LLAMA3: &str = "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n\
{{ m.content | trim }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}";

const GEMMA: &str = "{{ bos_token }}{% if messages[0].role == 'system' %}{% set first_user_prefix = messages[0].content + '\n\n' %}\
{% set loop_messages = messages[1:] %}{% else %}{% set first_user_prefix = '' %}{% set loop_messages = messages %}{% endif %}\
{% for m in loop_messages %}<start_of_turn>{{ 'model' if m.role == 'assistant' else m.role }}\n{{ first_user_prefix if loop.first else '' }}\
{{ m.content | trim }}<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}";

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
        } else if has("<start_of_turn>") {
            BuiltinFormat::Gemma
        } else {
            return Err(TokenizerError::Inconsistent("the model has no chat template and no known chat tokens".into()));
        };
        Ok(Self::builtin(format, bos, eos))
    }

    pub fn builtin(format: BuiltinFormat, bos: String, eos: String) -> Self {
        let source = match format {
            BuiltinFormat::ChatMl => CHATML,
            BuiltinFormat::Llama3 => LLAMA3,
            BuiltinFormat::Gemma => GEMMA,
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
                // Qwen3's template: the non-thinking mode (an empty <think></think> block), which
                // answers in the budget a classroom run gives; templates without the switch ignore it.
                enable_thinking => false,
                bos_token => self.bos.as_str(),
                eos_token => self.eos.as_str(),
            })
            .map_err(|e| TokenizerError::Template(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gemma's own template (its Hugging Face `chat_template`) renders a system message as the
    /// opening of the first user turn and the assistant as `model`.
    #[test]
    fn gemma_turns_fold_the_system_message_into_the_first_user_turn() {
        let template = ChatTemplate::builtin(BuiltinFormat::Gemma, "<bos>".into(), "<eos>".into());
        let messages = [Message::new("system", "Reason step by step."), Message::new("user", " What is 2+3? "), Message::new("assistant", "5"), Message::new("user", "And 2·3?")];
        let want = "<bos><start_of_turn>user\nReason step by step.\n\nWhat is 2+3?<end_of_turn>\n<start_of_turn>model\n5<end_of_turn>\n\
                    <start_of_turn>user\nAnd 2·3?<end_of_turn>\n<start_of_turn>model\n";
        assert_eq!(template.render(&messages).unwrap(), want);
        let plain = template.render(&[Message::new("user", "Hi")]).unwrap();
        assert_eq!(plain, "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n");
    }

    /// The generation prompt's ending in Qwen3's own template: non-thinking mode renders an empty
    /// thinking block.
    #[test]
    fn qwen3_templates_render_the_non_thinking_mode() {
        let source = "{%- for m in messages %}{{- '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{%- endfor %}\
            {%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- if enable_thinking is defined and enable_thinking is false %}\
            {{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}{%- endif %}";
        let template = ChatTemplate { source: source.into(), bos: String::new(), eos: String::new() };
        let rendered = template.render(&[Message::new("user", "2+3?")]).unwrap();
        assert_eq!(rendered, "<|im_start|>user\n2+3?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
    }
}
