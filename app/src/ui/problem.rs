//! The problem box: a sample picker, free text with an optional gold answer, the settings, and
//! Solve / Stop.

use cotnpot_pipeline::task::{Gold, Problem, Task};
use leptos::prelude::*;
use serde::Deserialize;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::engine;
use super::state::AppState;
use crate::protocol::{Role, ToEngine};

#[derive(Debug, Clone, Deserialize)]
pub struct Sample {
    pub task: String,
    pub index: usize,
    pub title: String,
    pub row: String,
}

impl Sample {
    pub fn problem(&self) -> Option<Problem> {
        Problem::from_row(Task::parse(&self.task)?, self.index, &self.row).ok()
    }
}

/// The bundled sample problems (public/samples.json).
pub fn samples() -> RwSignal<Vec<Sample>> {
    let samples = RwSignal::new(Vec::new());
    wasm_bindgen_futures::spawn_local(async move {
        let Some(window) = web_sys::window() else { return };
        let Ok(response) = JsFuture::from(window.fetch_with_str("public/samples.json")).await else { return };
        let response: web_sys::Response = response.unchecked_into();
        let Ok(text) = response.text() else { return };
        if let Some(text) = JsFuture::from(text).await.ok().and_then(|t| t.as_string()) {
            samples.set(serde_json::from_str(&text).unwrap_or_default());
        }
    });
    samples
}

fn gold_text(problem: &Problem) -> String {
    match &problem.gold {
        Gold::Answer { answer } => answer.clone(),
        Gold::Tests { tests, .. } => tests.join("\n"),
        Gold::Unknown => String::new(),
    }
}

#[component]
pub fn ProblemPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let samples = samples();
    provide_context(samples);
    let task = RwSignal::new("gsm8k".to_string());
    let question = RwSignal::new(String::new());
    let gold = RwSignal::new(String::new());
    // The sample being shown, while its text is unedited (it carries MBPP's tests).
    let chosen: RwSignal<Option<Problem>> = RwSignal::new(None);

    let pick = move |ev| {
        let value = event_target_value(&ev);
        let Some(problem) = value.parse::<usize>().ok().and_then(|i| samples.with_untracked(|s| s.get(i).and_then(Sample::problem))) else { return };
        task.set(format!("{:?}", problem.task).to_lowercase());
        question.set(problem.question.clone());
        gold.set(gold_text(&problem));
        chosen.set(Some(problem));
    };
    let problem = move || {
        let text = question.get_untracked();
        match chosen.get_untracked() {
            Some(p) if p.question == text && gold_text(&p) == gold.get_untracked() => p,
            _ => {
                let mut p = Problem::typed(Task::parse(&task.get_untracked()).unwrap_or(Task::Gsm8k), &text);
                let g = gold.get_untracked();
                if !g.trim().is_empty() && !p.task.is_code() {
                    p.gold = Gold::Answer { answer: g.trim().to_string() };
                }
                p
            }
        }
    };
    let can_solve = move || state.loaded.with(|l| l.contains_key(&Role::Reasoner)) && !state.run.with(|r| r.running) && !question.with(|q| q.trim().is_empty());
    let number = |ev: &leptos::ev::Event, lo: f64, hi: f64| event_target_value(ev).parse::<f64>().ok().map(|v| v.clamp(lo, hi));

    view! {
        <section class="panel problem">
            <h2>"Problem"</h2>
            <select data-testid="samples" on:change=pick>
                <option value="">"Pick a sample problem…"</option>
                {move || samples.get().into_iter().enumerate().map(|(i, s)| {
                    view! { <option value=i.to_string()>{format!("[{}] {}", s.task.to_uppercase(), s.title)}</option> }
                }).collect_view()}
            </select>
            <select prop:value=move || task.get() on:change=move |ev| task.set(event_target_value(&ev))>
                <option value="gsm8k">"Word problem (number answer)"</option>
                <option value="math">"Maths (LaTeX answer)"</option>
                <option value="mbpp">"Python function (tests)"</option>
            </select>
            <textarea data-testid="question" rows="4" placeholder="Type a maths word problem…"
                prop:value=move || question.get() on:input=move |ev| question.set(event_target_value(&ev))></textarea>
            <textarea data-testid="gold" rows=move || gold.with(|g| g.lines().count().clamp(1, 4)) placeholder="Correct answer, if you know it (optional)"
                prop:value=move || gold.get() on:input=move |ev| gold.set(event_target_value(&ev))></textarea>
            <div class="settings">
                <label>"N "<input type="number" min="1" max="16" data-testid="n" prop:value=move || state.settings.with(|s| s.n)
                    on:change=move |ev| if let Some(v) = number(&ev, 1.0, 16.0) { state.settings.update(|s| s.n = v as usize) }/></label>
                <label>"temperature "<input type="number" min="0" max="2" step="0.1" prop:value=move || state.settings.with(|s| s.temperature)
                    on:change=move |ev| if let Some(v) = number(&ev, 0.0, 2.0) { state.settings.update(|s| s.temperature = v as f32) }/></label>
                <label>"max solution tokens "<input type="number" min="1" max="4096" data-testid="max-tokens" prop:value=move || state.settings.with(|s| s.max_solution_tokens)
                    on:change=move |ev| if let Some(v) = number(&ev, 1.0, 4096.0) { state.settings.update(|s| s.max_solution_tokens = v as usize) }/></label>
                <label>"max program tokens "<input type="number" min="1" max="4096" data-testid="max-program-tokens" prop:value=move || state.settings.with(|s| s.max_program_tokens)
                    on:change=move |ev| if let Some(v) = number(&ev, 1.0, 4096.0) { state.settings.update(|s| s.max_program_tokens = v as usize) }/></label>
                <label>"seed "<input type="number" min="0" prop:value=move || state.settings.with(|s| s.seed)
                    on:change=move |ev| if let Some(v) = number(&ev, 0.0, 1e15) { state.settings.update(|s| s.seed = v as u64) }/></label>
            </div>
            <button class="solve" data-testid="solve" disabled=move || !can_solve() on:click=move |_| state.solve(problem())>"Solve"</button>
            <button class="stop" data-testid="stop" disabled=move || !state.run.with(|r| r.running) && !state.checking.get()
                on:click=move |_| { if state.checking.get_untracked() { engine::send(&ToEngine::Stop) } else { state.stop() } }>"Stop"</button>
        </section>
    }
}
