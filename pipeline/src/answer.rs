//! Final answers: found in a solution's text, then normalised so that equal answers compare equal.

use serde::{Deserialize, Serialize};

/// An answer as written, its normalised form, and its value when it is a plain number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    pub raw: String,
    pub normalized: String,
    pub value: Option<f64>,
}

impl Answer {
    pub fn new(raw: &str) -> Self {
        let normalized = normalize(raw);
        let value = numeric_value(&normalized);
        let normalized = match value {
            Some(v) => format_number(v),
            None => normalized,
        };
        Self { raw: raw.trim().to_string(), normalized, value }
    }
}

/// The final answer of a worked solution: the last `\boxed{}` (or `\fbox{}`), else a GSM8K
/// `#### x` line, else the phrase "the answer is x", else the last number in the text.
pub fn extract(solution: &str) -> Option<Answer> {
    let raw = last_boxed(solution)
        .or_else(|| after_hashes(solution))
        .or_else(|| after_answer_phrase(solution))
        .or_else(|| last_number(solution))?;
    let answer = Answer::new(&raw);
    (!answer.normalized.is_empty()).then_some(answer)
}

/// The answer in a program's printed result (its last non-empty line): `Total cost: 70` → `70`,
/// `[83]` → `83`. `None` when it is not an answer: empty, or an expression still holding one of
/// the program's variable names (`6.1*downloads_first_month`: the program never solved for it).
pub fn printed_answer(line: &str) -> Option<Answer> {
    let mut text = line.trim();
    // A label before the value: words, then `:` or `=`.
    if let Some((label, value)) = text.rsplit_once([':', '='])
        && !value.trim().is_empty()
        && label.chars().all(|c| c.is_alphabetic() || c == ' ' || c == '_' || c == '(' || c == ')')
        && label.chars().any(char::is_alphabetic)
    {
        text = value.trim();
    }
    // A one-element list or tuple, as sympy's `solve` prints it.
    for (open, close) in [('[', ']'), ('(', ')')] {
        if let Some(inner) = text.strip_prefix(open).and_then(|t| t.strip_suffix(close))
            && !inner.contains([',', open, close])
        {
            text = inner.trim();
        }
    }
    let unsolved = text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).any(|word| word.contains('_') && word.chars().any(|c| c.is_ascii_alphabetic()));
    let answer = Answer::new(text);
    (!answer.normalized.is_empty() && !unsolved).then_some(answer)
}

/// The content of the last `\boxed{...}`, braces balanced.
pub fn last_boxed(text: &str) -> Option<String> {
    let start = ["\\boxed", "\\fbox"].iter().filter_map(|m| text.rfind(m).map(|i| i + m.len())).max()?;
    let rest = text[start..].trim_start();
    if let Some(body) = rest.strip_prefix('{') {
        let end = matching_brace(body)?;
        return Some(body[..end].to_string());
    }
    // `\boxed 5` with no braces: the next word.
    rest.split(|c: char| c.is_whitespace() || c == '$').find(|w| !w.is_empty()).map(str::to_string)
}

/// Byte index of the `}` closing an already opened `{`.
pub(crate) fn matching_brace(body: &str) -> Option<usize> {
    let mut depth = 1usize;
    for (i, c) in body.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

fn after_hashes(text: &str) -> Option<String> {
    let line = text[text.rfind("####")? + 4..].lines().next()?.trim();
    (!line.is_empty()).then(|| line.to_string())
}

fn after_answer_phrase(text: &str) -> Option<String> {
    // ASCII lower-casing keeps byte offsets, so indices found in `lower` hold in `text`.
    let lower = text.to_ascii_lowercase();
    let at = ["the answer is", "final answer:", "answer:"].iter().filter_map(|p| lower.rfind(p).map(|i| i + p.len())).max()?;
    let rest = text.get(at..)?;
    let rest = rest.trim_start_matches([':', ' ', '\t']);
    let line = rest.lines().next()?.trim();
    if let Some(boxed) = last_boxed(line) {
        return Some(boxed);
    }
    // A sentence ends the answer: "... is 18. So she ..." → "18".
    let cut = line.find(". ").unwrap_or(line.len());
    let answer = line[..cut].trim().trim_end_matches('.').trim_matches('$').trim();
    (!answer.is_empty()).then(|| answer.to_string())
}

/// The last number written in the text (`-1,234.5` style), as GSM8K's usual fallback.
pub fn last_number(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut end = bytes.len();
    while end > 0 {
        if bytes[end - 1].is_ascii_digit() {
            let mut start = end;
            while start > 0 && (bytes[start - 1].is_ascii_digit() || bytes[start - 1] == b',' || bytes[start - 1] == b'.') {
                start -= 1;
            }
            if start > 0 && bytes[start - 1] == b'-' {
                start -= 1;
            }
            let number = text[start..end].trim_start_matches([',', '.']);
            return Some(number.to_string());
        }
        end -= 1;
    }
    None
}

/// Normal form of an answer string: LaTeX spacing and sizing commands, `$`, units in `\text{}`,
/// degree signs and trailing full stops removed; `\dfrac`/`\tfrac` → `\frac`; `\frac12` braced.
pub fn normalize(raw: &str) -> String {
    let mut s = raw.trim().to_string();
    s = strip_wrapper(&s, "\\boxed{").unwrap_or(s);
    for (from, to) in [
        ("\\left", ""),
        ("\\right", ""),
        ("\\!", ""),
        ("\\,", ""),
        ("\\;", ""),
        ("\\:", ""),
        ("\\ ", ""),
        ("\\dfrac", "\\frac"),
        ("\\tfrac", "\\frac"),
        ("\\displaystyle", ""),
        ("^{\\circ}", ""),
        ("^\\circ", ""),
        ("°", ""),
        ("\\$", ""),
        ("$", ""),
        ("\\%", "%"),
        ("\\mbox", "\\text"),
        ("\\textbf", "\\text"),
        ("\\mathrm", "\\text"),
    ] {
        s = s.replace(from, to);
    }
    s = drop_text_units(&s);
    s = brace_short_fractions(&s);
    s = s.split_whitespace().collect::<String>();
    s = s.trim_end_matches('.').to_string();
    // "x = 5" → "5" and "x \in [-2,7]" → "[-2,7]" when the left side is one short name.
    for relation in ["=", "\\in"] {
        if let Some((lhs, rhs)) = s.split_once(relation)
            && !rhs.contains(relation)
            && lhs.len() <= 2
            && lhs.chars().all(|c| c.is_ascii_alphabetic())
        {
            s = rhs.to_string();
        }
    }
    if s.starts_with('.') {
        s.insert(0, '0');
    }
    s
}

fn strip_wrapper(s: &str, open: &str) -> Option<String> {
    let body = s.strip_prefix(open)?;
    let end = matching_brace(body)?;
    (end == body.len() - 1).then(|| body[..end].to_string())
}

/// `\text{...}`: a unit after a number is dropped, any other text keeps its words.
fn drop_text_units(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find("\\text{") {
        let before = &rest[..at];
        out.push_str(before);
        let body = &rest[at + 6..];
        let Some(end) = matching_brace(body) else {
            out.push_str(&rest[at..]);
            return out;
        };
        let follows_number = out.trim_end().chars().last().is_some_and(|c| c.is_ascii_digit() || c == '}');
        if !follows_number {
            out.push_str(&body[..end]);
        }
        rest = &body[end + 1..];
    }
    out.push_str(rest);
    out
}

/// `\frac12` → `\frac{1}{2}`, `\frac1{x}` → `\frac{1}{x}`.
fn brace_short_fractions(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find("\\frac") {
        out.push_str(&rest[..at + 5]);
        rest = &rest[at + 5..];
        for _ in 0..2 {
            match rest.chars().next() {
                Some('{') => {
                    let Some(end) = matching_brace(&rest[1..]) else { break };
                    out.push_str(&rest[..end + 2]);
                    rest = &rest[end + 2..];
                }
                Some(c) if c.is_ascii_alphanumeric() => {
                    out.push('{');
                    out.push(c);
                    out.push('}');
                    rest = &rest[1..];
                }
                _ => break,
            }
        }
    }
    out.push_str(rest);
    out
}

/// The value of a normalised answer that is a plain number: `1,234`, `-3.50`, `45%`, `\frac{3}{4}`,
/// `-\frac{1}{2}`, `7/2`, `12 dollars`, `$5`. `None` for anything symbolic.
pub fn numeric_value(normalized: &str) -> Option<f64> {
    let s = normalized.trim_end_matches('%');
    if let Some(v) = parse_plain(s) {
        return Some(v);
    }
    if let Some(v) = parse_fraction(s) {
        return Some(v);
    }
    // A number followed by a unit word: "18dollars", "5cm" (spaces are already gone).
    let digits_end = s.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ',' || c == '-'))?;
    let (number, unit) = s.split_at(digits_end);
    let unit_is_word = unit.chars().all(|c| c.is_alphabetic()) && unit.chars().count() <= 12;
    if unit_is_word && !number.is_empty() { parse_plain(number) } else { None }
}

fn parse_plain(s: &str) -> Option<f64> {
    let s = s.strip_prefix('+').unwrap_or(s);
    if s.is_empty() || !s.chars().all(|c| c.is_ascii_digit() || c == '.' || c == ',' || c == '-') {
        return None;
    }
    if s.contains(',') && !thousands_grouped(s) {
        return None;
    }
    s.replace(',', "").parse::<f64>().ok().filter(|v| v.is_finite())
}

/// `1,234,567.5` is grouped in thousands; `1,2` (a list) is not.
fn thousands_grouped(s: &str) -> bool {
    let int = s.trim_start_matches('-').split('.').next().unwrap_or("");
    let groups: Vec<&str> = int.split(',').collect();
    !groups[0].is_empty() && groups[0].len() <= 3 && groups[1..].iter().all(|g| g.len() == 3)
}

fn parse_fraction(s: &str) -> Option<f64> {
    let (sign, body) = match s.strip_prefix('-') {
        Some(b) => (-1.0, b),
        None => (1.0, s),
    };
    let (num, den) = if let Some(frac) = body.strip_prefix("\\frac{") {
        let end = matching_brace(frac)?;
        let den = frac[end + 1..].strip_prefix('{')?.strip_suffix('}')?;
        (&frac[..end], den)
    } else {
        body.split_once('/')?
    };
    let (num, den) = (parse_plain(num)?, parse_plain(den)?);
    (den != 0.0).then(|| sign * num / den)
}

/// A number in the shortest form that reads back exactly: integers without `.0`.
pub fn format_number(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e15 { format!("{}", v as i64) } else { format!("{v}") }
}
