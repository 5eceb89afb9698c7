//! Whether two answers are the same: numbers within a relative tolerance, else the same normal
//! form, else (for symbolic answers) a sympy check the caller runs through its Python runner.

use crate::answer::{Answer, matching_brace};
use crate::runner::{PotOutcome, PythonRunner};

/// Relative tolerance of numeric comparison.
pub const REL_TOL: f64 = 1e-4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Equality {
    Equal,
    Different,
    /// Symbolic answers whose normal forms differ: only a CAS can tell.
    NeedsSympy,
}

pub fn close(a: f64, b: f64) -> bool {
    let scale = a.abs().max(b.abs());
    (a - b).abs() <= REL_TOL * scale || (a - b).abs() < 1e-9
}

/// Plain comparison, used to judge a pick against the gold answer.
pub fn compare(a: &Answer, b: &Answer) -> Equality {
    match (a.value, b.value) {
        (Some(x), Some(y)) => bool_eq(close(x, y)),
        _ if a.normalized == b.normalized => Equality::Equal,
        // A number against a non-number can still be equal (`0.5` vs `\sin(\pi/6)`).
        _ => Equality::NeedsSympy,
    }
}

/// The CoTnPoT filter's comparison: as [`compare`], but a percentage may be written either way
/// (`45` against `0.45`).
pub fn compare_lenient(cot: &Answer, pot: &Answer) -> Equality {
    if let (Some(x), Some(y)) = (cot.value, pot.value) {
        return bool_eq(close(x, y) || close(x, y * 100.0) || close(x * 100.0, y));
    }
    compare(cot, pot)
}

fn bool_eq(b: bool) -> Equality {
    if b { Equality::Equal } else { Equality::Different }
}

/// A Python program that prints `True` when sympy finds the two answers equal, `False` otherwise
/// (also when either cannot be parsed). Tuples compare element by element; intervals (one end
/// closed: `(a, b)` alone is a point) and unions of intervals by their ends; equations `l = r` as
/// equal when `l - r` of one is a constant multiple of the other's.
pub fn sympy_program(a: &Answer, b: &Answer) -> String {
    sympy_pairs_program(&[(a, b)])
}

/// As [`sympy_program`] for many pairs in one run: one `True`/`False` line per pair, in order.
pub fn sympy_pairs_program(pairs: &[(&Answer, &Answer)]) -> String {
    // JSON string literals are valid Python string literals.
    let quote = |a: &Answer| serde_json::to_string(&latex_to_sympy(&a.normalized)).expect("a string always serialises");
    let pairs: Vec<String> = pairs.iter().map(|(a, b)| format!("({}, {})", quote(a), quote(b))).collect();
    format!(
        r#"from sympy import simplify, nsimplify, N, Interval, Union
from sympy.parsing.sympy_parser import parse_expr, standard_transformations, implicit_multiplication_application, convert_xor
T = standard_transformations + (implicit_multiplication_application, convert_xor)
class Equation:
    def __init__(self, lhs, rhs):
        self.zero = parse(lhs) - parse(rhs)
def parse(s):
    return parse_expr(s, transformations=T)
def interval(s, open_ok):
    s = s.strip()
    if len(s) < 2 or s[0] not in "([" or s[-1] not in ")]" or s[1:-1].count(",") != 1:
        return None
    if not open_ok and s[0] == "(" and s[-1] == ")":
        return None  # (a, b) alone is a point
    a, b = s[1:-1].split(",")
    return Interval(parse(a), parse(b), s[0] == "(", s[-1] == ")")
def value(s):
    if "∪" in s:
        parts = [interval(p, True) for p in s.split("∪")]
        if None in parts:
            raise ValueError(s)
        return Union(*parts)
    if s.count("=") == 1:
        return Equation(*s.split("="))
    return interval(s, False) or parse(s)
def same(x, y):
    if type(x) is not type(y) and Equation in (type(x), type(y)):
        return False
    if isinstance(x, Equation):
        ratio = simplify(x.zero / y.zero)
        return ratio != 0 and not ratio.free_symbols
    if isinstance(x, tuple) or isinstance(y, tuple):
        return isinstance(x, tuple) and isinstance(y, tuple) and len(x) == len(y) and all(same(p, q) for p, q in zip(x, y))
    if isinstance(x, Interval) or isinstance(y, Interval):
        return isinstance(x, Interval) and isinstance(y, Interval) and (x.left_open, x.right_open) == (y.left_open, y.right_open) and same(x.start, y.start) and same(x.end, y.end)
    if isinstance(x, Union) or isinstance(y, Union):
        return isinstance(x, Union) and isinstance(y, Union) and len(x.args) == len(y.args) and all(same(p, q) for p, q in zip(x.args, y.args))
    if x == y:
        return True
    d = simplify(x - y)
    if d == 0:
        return True
    try:
        return abs(complex(N(d))) < 1e-6 * max(1.0, abs(complex(N(x))))
    except Exception:
        return False
for a, b in [{}]:
    try:
        print(same(value(a), value(b)))
    except Exception:
        print(False)
"#,
        pairs.join(", ")
    )
}

/// Which answers of one problem are equal under the filter's comparison ([`compare_lenient`]),
/// with every pair that only sympy can decide settled by one Python run for the whole problem.
#[derive(Debug, Clone, Default)]
pub struct EqualityTable {
    /// Pairs of normal forms sympy found equal.
    sympy_equal: Vec<(String, String)>,
}

impl EqualityTable {
    pub async fn build<'a, R: PythonRunner>(answers: impl IntoIterator<Item = &'a Answer>, runner: &R) -> Self {
        let mut distinct: Vec<&Answer> = Vec::new();
        for a in answers {
            if !distinct.iter().any(|d| d.normalized == a.normalized) {
                distinct.push(a);
            }
        }
        let mut undecided = Vec::new();
        for (i, a) in distinct.iter().enumerate() {
            for b in &distinct[i + 1..] {
                if compare_lenient(a, b) == Equality::NeedsSympy {
                    undecided.push((*a, *b));
                }
            }
        }
        if undecided.is_empty() {
            return Self::default();
        }
        // A run that fails (no Python, a time-out) leaves every undecided pair unequal.
        let outcome = runner.run(&sympy_pairs_program(&undecided)).await;
        let verdicts: Vec<&str> = match &outcome {
            PotOutcome::Finished { stdout } => stdout.lines().map(str::trim).filter(|l| !l.is_empty()).collect(),
            _ => Vec::new(),
        };
        let sympy_equal = if verdicts.len() == undecided.len() {
            undecided.iter().zip(verdicts).filter(|(_, v)| *v == "True").map(|((a, b), _)| (a.normalized.clone(), b.normalized.clone())).collect()
        } else {
            Vec::new()
        };
        Self { sympy_equal }
    }

    pub fn same(&self, a: &Answer, b: &Answer) -> bool {
        match compare_lenient(a, b) {
            Equality::Equal => true,
            Equality::Different => false,
            Equality::NeedsSympy => {
                self.sympy_equal.iter().any(|(x, y)| (x == &a.normalized && y == &b.normalized) || (x == &b.normalized && y == &a.normalized))
            }
        }
    }
}

/// LaTeX maths to sympy's input syntax: `\frac{a}{b}` → `((a)/(b))`, `\sqrt[n]{x}` → `(x)**(1/(n))`,
/// `\pi` → `pi`, `\infty` → `oo`, `\cdot`/`\times` → `*`, `^` → `**`, braces → parentheses.
pub fn latex_to_sympy(latex: &str) -> String {
    let mut out = String::new();
    let mut rest = latex;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("\\frac") {
            let (num, after) = braced(after);
            let (den, after) = braced(after);
            out.push_str(&format!("(({})/({}))", latex_to_sympy(num), latex_to_sympy(den)));
            rest = after;
        } else if let Some(after) = rest.strip_prefix("\\sqrt") {
            if let Some(index_body) = after.strip_prefix('[') {
                let close = index_body.find(']').unwrap_or(index_body.len());
                let index = &index_body[..close];
                let (radicand, after) = braced(index_body.get(close + 1..).unwrap_or(""));
                out.push_str(&format!("(({})**(1/({})))", latex_to_sympy(radicand), latex_to_sympy(index)));
                rest = after;
            } else {
                let (radicand, after) = braced(after);
                out.push_str(&format!("sqrt({})", latex_to_sympy(radicand)));
                rest = after;
            }
        } else if c == '\\' {
            let letters = rest[1..].find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len() - 1);
            let (consumed, sympy) = command(&rest[1..1 + letters]);
            out.push_str(sympy);
            rest = &rest[1 + consumed.max(if letters == 0 { 1 } else { 0 })..];
        } else {
            match c {
                '{' => out.push('('),
                '}' => out.push(')'),
                '^' => out.push_str("**"),
                _ => out.push(c),
            }
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// A LaTeX command's sympy form and how many of `letters` (the letters after the backslash) it
/// takes. Normal forms have no spaces, so `\cot x` arrives as `\cotx`: a function's name may
/// run into its argument, and is then followed by a space for sympy's implicit application.
/// Unknown commands (`\text`, `\left`) vanish.
fn command(letters: &str) -> (usize, &'static str) {
    const SYMBOLS: [(&str, &str); 6] = [("infty", "oo"), ("cdot", "*"), ("times", "*"), ("div", "/"), ("cup", "∪"), ("pi", "pi")];
    const FUNCTIONS: [(&str, &str); 15] = [
        ("arcsin", "asin "),
        ("arccos", "acos "),
        ("arctan", "atan "),
        ("sinh", "sinh "),
        ("cosh", "cosh "),
        ("tanh", "tanh "),
        ("sin", "sin "),
        ("cos", "cos "),
        ("tan", "tan "),
        ("cot", "cot "),
        ("sec", "sec "),
        ("csc", "csc "),
        ("log", "log "),
        ("exp", "exp "),
        ("ln", "log "),
    ];
    if let Some((_, sympy)) = SYMBOLS.iter().find(|(name, _)| *name == letters) {
        return (letters.len(), sympy);
    }
    // Longest names first, so that `sinh` is not read as `sin` + `h`.
    match FUNCTIONS.iter().chain(&SYMBOLS).find(|(name, _)| letters.starts_with(name)) {
        Some((name, sympy)) => (name.len(), sympy),
        None => (letters.len(), ""),
    }
}

/// The argument of a LaTeX command: `{...}` or a single character.
fn braced(s: &str) -> (&str, &str) {
    if let Some(body) = s.strip_prefix('{') {
        return match matching_brace(body) {
            Some(i) => (&body[..i], &body[i + 1..]),
            None => (body, ""),
        };
    }
    match s.chars().next() {
        Some(c) => s.split_at(c.len_utf8()),
        None => ("", ""),
    }
}

/// Whether two answers are equal by `how`, asking sympy through `runner` when `how` cannot tell.
pub async fn equal<R: PythonRunner>(runner: &R, a: &Answer, b: &Answer, how: fn(&Answer, &Answer) -> Equality) -> bool {
    match how(a, b) {
        Equality::Equal => true,
        Equality::Different => false,
        Equality::NeedsSympy => runner.run(&sympy_program(a, b)).await.result() == Some("True"),
    }
}
