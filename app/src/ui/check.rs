//! Model check: a raw prompt continued greedily by the reasoner, with its token ids — the page's
//! own engine output, comparable token for token with llama.cpp.

use leptos::prelude::*;

use super::cards::outcome_view;
use super::engine;
use super::state::AppState;
use crate::protocol::{Role, ToEngine};

#[component]
pub fn CheckPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let prompt = RwSignal::new("The capital of France is".to_string());
    let max_tokens = RwSignal::new(16usize);
    let run = move |_| {
        state.checking.set(true);
        state.check.set(None);
        engine::send(&ToEngine::Generate { prompt: prompt.get_untracked(), max_tokens: max_tokens.get_untracked() });
    };
    view! {
        <details class="panel check" data-testid="check">
            <summary>"Model check (raw greedy continuation, token ids)"</summary>
            <textarea rows="2" data-testid="check-prompt" prop:value=move || prompt.get() on:input=move |ev| prompt.set(event_target_value(&ev))></textarea>
            <label>"tokens "<input type="number" min="1" max="512" data-testid="check-tokens" prop:value=move || max_tokens.get()
                on:change=move |ev| max_tokens.set(event_target_value(&ev).parse::<usize>().unwrap_or(16).clamp(1, 512))/></label>
            <button data-testid="check-run" on:click=run disabled=move || state.checking.get() || !state.loaded.with(|l| l.contains_key(&Role::Reasoner))>"Continue greedily"</button>
            {move || state.check.get().map(|c| {
                let ids = c.tokens.iter().map(u32::to_string).collect::<Vec<_>>().join(" ");
                let ids_attr = ids.clone();
                view! {
                    <div data-testid="check-result" data-tokens=ids_attr>
                        <pre>{c.text}</pre>
                        <p>"token ids: "<code>{ids}</code></p>
                        <p data-testid="check-speed">{format!("first token after {:.2} s · {:.3} tokens/s after it", c.first_token_seconds, c.tokens_per_second)}</p>
                    </div>
                }
            })}
        </details>
    }
}

/// Python check: any program through the pipeline's own Pyodide worker and time limit — what a
/// candidate's program-of-thought goes through, for a class to try a program by hand.
#[component]
pub fn PythonPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let code = RwSignal::new("print(48 + 48 // 2)".to_string());
    let run = move |_| {
        state.running_python.set(true);
        state.python.set(None);
        engine::send(&ToEngine::RunPython { code: code.get_untracked() });
    };
    view! {
        <details class="panel python" data-testid="python">
            <summary>"Python check (runs like a candidate's program: Pyodide, 10 s limit)"</summary>
            <textarea rows="4" data-testid="python-code" prop:value=move || code.get() on:input=move |ev| code.set(event_target_value(&ev))></textarea>
            <button data-testid="python-run" on:click=run disabled=move || state.running_python.get() || state.runs_on.get().is_none()>"Run"</button>
            {move || state.python.get().map(|(outcome, seconds)| {
                let (summary, kind, stdout) = outcome_view(&outcome);
                view! {
                    <div class=format!("outcome {kind}") data-testid="python-outcome" data-kind=kind>
                        <span>{format!("{summary} ({seconds:.1} s)")}</span>
                        <pre data-testid="python-stdout">{stdout}</pre>
                    </div>
                }
            })}
        </details>
    }
}
