//! Benchmark problems: GSM8K, MATH and MBPP rows, and what counts as their gold answer.

use serde::{Deserialize, Serialize};

use crate::answer::extract;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    Gsm8k,
    Math,
    Mbpp,
}

impl Task {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "gsm8k" => Some(Task::Gsm8k),
            "math" => Some(Task::Math),
            "mbpp" => Some(Task::Mbpp),
            _ => None,
        }
    }

    pub fn is_code(self) -> bool {
        self == Task::Mbpp
    }
}

/// What a pick is judged against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Gold {
    Answer { answer: String },
    Tests { setup: String, tests: Vec<String> },
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    pub task: Task,
    /// 0-based line of the data file.
    pub index: usize,
    pub question: String,
    pub gold: Gold,
}

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("line {line}: {message}")]
    Row { line: usize, message: String },
}

impl Problem {
    /// One problem typed in by a user: no gold answer.
    pub fn typed(task: Task, question: &str) -> Self {
        Self { task, index: 0, question: question.to_string(), gold: Gold::Unknown }
    }

    /// Reads one JSONL row: GSM8K `{question, answer}` (gold after `####`), MATH `{problem,
    /// answer}` (or the `\boxed{}` of `solution`), MBPP `{text, test_list, test_setup_code}`.
    pub fn from_row(task: Task, index: usize, line: &str) -> Result<Self, DataError> {
        let err = |message: String| DataError::Row { line: index, message };
        let row: serde_json::Value = serde_json::from_str(line).map_err(|e| err(e.to_string()))?;
        let text = |key: &str| row.get(key).and_then(|v| v.as_str()).map(str::to_string);
        let (question, gold) = match task {
            Task::Gsm8k => {
                let question = text("question").ok_or_else(|| err("no `question`".into()))?;
                let solution = text("answer").ok_or_else(|| err("no `answer`".into()))?;
                let gold = extract(&solution).ok_or_else(|| err("no final answer in `answer`".into()))?;
                (question, Gold::Answer { answer: gold.raw })
            }
            Task::Math => {
                let question = text("problem").ok_or_else(|| err("no `problem`".into()))?;
                let answer = text("answer").or_else(|| text("solution").and_then(|s| crate::answer::last_boxed(&s)));
                (question, Gold::Answer { answer: answer.ok_or_else(|| err("no `answer` and no boxed solution".into()))? })
            }
            Task::Mbpp => {
                let question = text("text").ok_or_else(|| err("no `text`".into()))?;
                let tests: Vec<String> = row
                    .get("test_list")
                    .and_then(|v| v.as_array())
                    .map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_string)).collect())
                    .unwrap_or_default();
                if tests.is_empty() {
                    return Err(err("no `test_list`".into()));
                }
                (question, Gold::Tests { setup: text("test_setup_code").unwrap_or_default(), tests })
            }
        };
        Ok(Self { task, index, question, gold })
    }

    /// Every row of a JSONL file's text.
    pub fn parse_file(task: Task, text: &str) -> Result<Vec<Self>, DataError> {
        text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()).map(|(i, l)| Self::from_row(task, i, l)).collect()
    }

    /// The test shown in an MBPP prompt (its first assert).
    pub fn visible_test(&self) -> Option<&str> {
        match &self.gold {
            Gold::Tests { tests, .. } => tests.first().map(String::as_str),
            _ => None,
        }
    }
}
