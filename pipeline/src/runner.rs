//! Running a Python program: the trait each target implements, and what a run can end in.

use serde::{Deserialize, Serialize};

/// How one Python program ended. Every way it can go wrong is a value, never a panic or a hang.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PotOutcome {
    /// Exited normally.
    Finished { stdout: String },
    /// Raised (or exited non-zero); `error` is the exception's last traceback line.
    Error { stdout: String, error: String },
    /// Still running at the time limit; it was stopped.
    Timeout { stdout: String },
    /// Printed more than the output cap; it was stopped.
    OutputTooLarge { limit_bytes: usize },
    /// The runner itself could not run it (no sandbox, no Python).
    Unavailable { reason: String },
}

impl PotOutcome {
    /// The program's answer: the last non-empty line it printed, when it finished.
    pub fn result(&self) -> Option<&str> {
        match self {
            PotOutcome::Finished { stdout } => stdout.lines().rev().map(str::trim).find(|l| !l.is_empty()),
            _ => None,
        }
    }

    pub fn finished(&self) -> bool {
        matches!(self, PotOutcome::Finished { .. })
    }

    /// A short human description, for cards and logs.
    pub fn summary(&self) -> String {
        match self {
            PotOutcome::Finished { .. } => format!("printed {}", self.result().unwrap_or("nothing")),
            PotOutcome::Error { error, .. } => error.clone(),
            PotOutcome::Timeout { .. } => "timed out".into(),
            PotOutcome::OutputTooLarge { limit_bytes } => format!("printed more than {limit_bytes} bytes"),
            PotOutcome::Unavailable { reason } => format!("could not run: {reason}"),
        }
    }
}

/// Runs Python programs in isolation. Natively a sandboxed subprocess; in the browser a Pyodide
/// worker. Implementations enforce their own time and output limits.
#[allow(async_fn_in_trait)]
pub trait PythonRunner {
    async fn run(&self, program: &str) -> PotOutcome;

    /// Runs several programs; implementations may run them in parallel.
    async fn run_all(&self, programs: &[String]) -> Vec<PotOutcome> {
        let mut outcomes = Vec::with_capacity(programs.len());
        for p in programs {
            outcomes.push(self.run(p).await);
        }
        outcomes
    }
}

/// The program in a model's reply: the first fenced ```python block (or any fenced block), else
/// the whole reply when it has no fences.
pub fn extract_code(reply: &str) -> Option<String> {
    let blocks = fenced_blocks(reply);
    let code = blocks
        .iter()
        .find(|(lang, _)| lang.eq_ignore_ascii_case("python") || lang.eq_ignore_ascii_case("py"))
        .or_else(|| blocks.first())
        .map(|(_, code)| code.clone())
        .or_else(|| (!reply.contains("```")).then(|| reply.to_string()))?;
    let code = code.trim_matches('\n').to_string();
    (!code.trim().is_empty()).then_some(code)
}

/// `(language, body)` of each ``` block; an unclosed last block runs to the end.
fn fenced_blocks(text: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("```") {
        let after = &rest[open + 3..];
        let line_end = after.find('\n').unwrap_or(after.len());
        let lang = after[..line_end].trim().to_string();
        let body = after.get(line_end + 1..).unwrap_or("");
        match body.find("```") {
            Some(close) => {
                blocks.push((lang, body[..close].to_string()));
                rest = &body[close + 3..];
            }
            None => {
                blocks.push((lang, body.to_string()));
                break;
            }
        }
    }
    blocks
}

/// Last line of a Python traceback (`ValueError: ...`), or the whole text when short.
pub fn exception_line(stderr: &str) -> String {
    stderr.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or("exited with an error").to_string()
}
