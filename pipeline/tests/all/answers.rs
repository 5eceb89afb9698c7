//! Answer extraction on the benchmarks' own gold solutions, normalisation and comparison.

use cotnpot_pipeline::answer::{Answer, extract};
use cotnpot_pipeline::compare::{Equality, compare, compare_lenient, latex_to_sympy};
use cotnpot_pipeline::task::{Gold, Problem, Task};

use crate::shared_data;

fn ratio(hits: usize, total: usize) -> f64 {
    hits as f64 / total as f64
}

#[test]
fn gsm8k_gold_answers_are_extracted_from_the_worked_solutions() {
    for file in ["gsm8k_test_dev.jsonl", "gsm8k_train.jsonl"] {
        let text = shared_data(file);
        let (mut hits, mut total) = (0, 0);
        for line in text.lines() {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            let solution = row["answer"].as_str().unwrap();
            // Independent reading of the gold: the text after "####", commas dropped.
            let gold: f64 = solution.rsplit("####").next().unwrap().trim().replace(',', "").parse().unwrap();
            total += 1;
            // The solution without its "####" line must still yield the answer through the
            // phrase or last-number rules, as a model's free-form solution would.
            let body = solution.rsplit_once("####").unwrap().0;
            let full = extract(solution).and_then(|a| a.value);
            let free = extract(body).and_then(|a| a.value);
            if full == Some(gold) && free.is_some() {
                hits += 1;
            }
        }
        assert!(ratio(hits, total) >= 0.99, "{file}: {hits}/{total}");
    }
}

#[test]
fn math500_gold_answers_are_extracted_from_the_worked_solutions() {
    let text = shared_data("math500_dev.jsonl");
    let (mut hits, mut misses) = (0, Vec::new());
    let rows: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    for row in &rows {
        let got = extract(row["solution"].as_str().unwrap()).unwrap_or_else(|| Answer::new(""));
        let gold = Answer::new(row["answer"].as_str().unwrap());
        if compare(&got, &gold) == Equality::Equal {
            hits += 1;
        } else {
            misses.push((got.raw, gold.raw));
        }
    }
    assert!(ratio(hits, rows.len()) >= 0.99, "{hits}/{}; misses: {misses:?}", rows.len());
}

#[test]
fn free_form_answers_normalise() {
    let cases = [
        ("So she makes $18 every day.\nThe answer is $18.", "18"),
        ("Total: 1,234.50 dollars. The answer is 1,234.50", "1234.5"),
        ("Therefore the final answer is \\boxed{\\dfrac{3}{4}}.", "0.75"),
        ("$\\boxed{\\frac{1}{\\sqrt{2}}}$", "\\frac{1}{\\sqrt{2}}"),
        ("#### 7,000", "7000"),
        ("we get x = 12, then 12 + 3 = 15 apples", "15"),
        ("The answer is \\boxed{45\\%}", "45"),
        ("\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}", "(3,\\frac{\\pi}{2})"),
        ("\\boxed{5\\text{ cm}}", "5"),
        ("\\boxed{x = -2}", "-2"),
        ("\\boxed{\\frac12}", "0.5"),
        ("\\boxed{.5}", "0.5"),
        ("\\boxed{10^\\circ}", "10"),
        ("\\boxed{\\text{(C)}}", "(C)"),
    ];
    for (text, want) in cases {
        let got = extract(text).unwrap_or_else(|| panic!("nothing from {text:?}"));
        assert_eq!(got.normalized, want, "{text:?}");
    }
    assert_eq!(extract("no digits here"), None);
    assert_eq!(extract("\\boxed{}"), None);
}

#[test]
fn comparison_uses_tolerance_and_percent_forms() {
    let a = |s: &str| Answer::new(s);
    assert_eq!(compare(&a("0.5"), &a("\\frac{1}{2}")), Equality::Equal);
    assert_eq!(compare(&a("3.14159"), &a("3.1416")), Equality::Equal, "within 1e-4 relative");
    assert_eq!(compare(&a("3.14"), &a("3.15")), Equality::Different);
    assert_eq!(compare(&a("1,000"), &a("1000.0")), Equality::Equal);
    assert_eq!(compare(&a("45"), &a("0.45")), Equality::Different);
    assert_eq!(compare_lenient(&a("45%"), &a("0.45")), Equality::Equal, "percent as a fraction");
    assert_eq!(compare_lenient(&a("0.45"), &a("45")), Equality::Equal);
    assert_eq!(compare_lenient(&a("46"), &a("0.45")), Equality::Different);
    assert_eq!(compare(&a("\\sqrt{2}"), &a("\\sqrt{2}")), Equality::Equal);
    assert_eq!(compare(&a("\\frac{\\sqrt{2}}{2}"), &a("sqrt(2)/2")), Equality::NeedsSympy);
    assert_eq!(latex_to_sympy("\\frac{\\sqrt{2}}{2}"), "((sqrt(2))/(2))");
    assert_eq!(latex_to_sympy("2\\sqrt[3]{x}+\\pi^2"), "2((x)**(1/(3)))+pi**2");
}

/// Printed results seen in the committed GSM8K records' programs.
#[test]
fn a_program_printed_result_reads_as_an_answer_or_as_none() {
    use cotnpot_pipeline::answer::printed_answer;
    let value = |s: &str| printed_answer(s).and_then(|a| a.value);
    assert_eq!(value("42"), Some(42.0));
    assert_eq!(value("Number of gold coins: 70"), Some(70.0));
    assert_eq!(value("total_cost = 12.5"), Some(12.5));
    assert_eq!(value("[83]"), Some(83.0), "sympy's solve prints a list");
    assert_eq!(value("[748/3]"), Some(748.0 / 3.0));
    assert_eq!(value("14900/81"), Some(14900.0 / 81.0));
    assert_eq!(printed_answer("6.1*downloads_first_month"), None, "an unsolved variable");
    assert_eq!(printed_answer("0.666666666666667*initial_water + 0.6*pineapple_water - 1"), None);
    assert_eq!(printed_answer("   "), None);
    assert_eq!(printed_answer("(1, 2)").map(|a| a.normalized), Some("(1,2)".into()), "a tuple stays a tuple");
    assert_eq!(printed_answer("7 - 10*x").map(|a| a.normalized), Some("7-10*x".into()), "one-letter symbols are maths");
    assert_eq!(printed_answer("2:30").map(|a| a.raw), Some("2:30".into()), "no label before the colon");
}

#[test]
fn data_rows_parse_into_problems() {
    let gsm = Problem::parse_file(Task::Gsm8k, &shared_data("gsm8k_test_dev.jsonl")).unwrap();
    assert_eq!(gsm.len(), 1000);
    assert_eq!(gsm[0].gold, Gold::Answer { answer: "18".into() });
    let mbpp = Problem::parse_file(Task::Mbpp, &shared_data("mbpp_dev.jsonl")).unwrap();
    assert!(mbpp[0].visible_test().unwrap().starts_with("assert min_cost("));
    let math = Problem::parse_file(Task::Math, &shared_data("math500_dev.jsonl")).unwrap();
    assert_eq!(math.len(), 400);
    assert!(Problem::from_row(Task::Gsm8k, 3, "{\"question\": 1}").is_err());
    assert!(Problem::from_row(Task::Gsm8k, 3, "not json").is_err());
}

/// A reasoner whose model asks for its own maths prompt (Qwen2.5-Math's) gets it on maths
/// problems only; code problems and models without one keep the standard prompts.
#[test]
fn a_models_own_maths_prompt_replaces_the_standard_one_for_maths_only() {
    use cotnpot_pipeline::Settings;
    use cotnpot_pipeline::prompts::{CODE_SYSTEM, COT_SYSTEM};
    let maths = Problem::from_row(Task::Math, 0, r#"{"problem": "What is $2+3$?", "answer": "5"}"#).unwrap();
    let code = Problem::from_row(Task::Mbpp, 0, r#"{"text": "Add two numbers.", "test_list": ["assert add(2, 3) == 5"]}"#).unwrap();
    let own = "Please reason step by step, and put your final answer within \\boxed{}.";
    let with_own = Settings { maths_system: Some(own.into()), ..Settings::default() };
    assert_eq!(with_own.reasoner_system(&maths), own);
    assert_eq!(with_own.reasoner_system(&code), CODE_SYSTEM);
    assert_eq!(Settings::default().reasoner_system(&maths), COT_SYSTEM);
}
