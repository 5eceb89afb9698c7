//! What the models are asked. Kept in one place so the page, the CLI and training agree.

use crate::task::Problem;

pub const COT_SYSTEM: &str = "You are a careful maths tutor. Solve the problem step by step, \
showing each calculation. End with the final answer in the form \\boxed{ANSWER}.";

pub const CODE_SYSTEM: &str = "You are an expert Python programmer. Write the requested function \
in one ```python code block, then explain it in one or two sentences.";

pub const POT_SYSTEM: &str = "You translate worked maths solutions into Python. Reply with one \
```python code block only.";

/// The user turn asking the reasoner for a solution.
pub fn solve(problem: &Problem) -> String {
    match problem.visible_test() {
        Some(test) => format!("{}\nYour code should pass this test:\n{test}", problem.question),
        None => problem.question.clone(),
    }
}

pub fn solve_system(problem: &Problem) -> &'static str {
    if problem.task.is_code() { CODE_SYSTEM } else { COT_SYSTEM }
}

/// The user turn asking the coder to turn one solution into a program (program-of-thought).
/// A variant asking for lower-case names assigned before use, against the names spelled two
/// ways behind most errors, raised more errors instead (`BENCHMARKS.md`, "The translation prompt").
pub fn cot_to_pot(question: &str, solution: &str) -> String {
    format!(
        "Question: {question}\n\nSolution:\n{solution}\n\nWrite a Python program that follows this \
solution step by step, computing every quantity it uses, and ends by printing only the final \
answer (a number, or a sympy expression for symbolic answers)."
    )
}
