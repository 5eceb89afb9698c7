//! The page: leptos components over the state in `state.rs`; every number shown comes from the
//! engine worker's messages.

mod bench;
mod cards;
mod check;
mod engine;
mod models;
mod problem;
mod state;

use leptos::prelude::*;

use crate::protocol::{ErrorKind, ModelSource};
use state::AppState;

pub fn mount() {
    leptos::mount::mount_to_body(App);
}

#[component]
fn App() -> impl IntoView {
    let state = AppState::new();
    provide_context(state);
    engine::start(state);
    view! {
        <header>
            <h1>"cotnpot"</h1>
            <p class="tagline">"N solutions, each checked by its own Python program, ranked by a verifier — all on this computer's GPU."</p>
        </header>
        <Banner/>
        <models::ModelPanel/>
        <problem::ProblemPanel/>
        <cards::RunPanel/>
        <bench::BenchPanel/>
        <check::CheckPanel/>
        <check::PythonPanel/>
        <footer>
            "Method: Liang et al. 2024, “Improving LLM Reasoning through Scaling Inference Computation with Collaborative Verification”. "
            "Sample problems from GSM8K (MIT), MATH-500 (MIT) and MBPP (CC-BY-4.0)."
        </footer>
    }
}

/// Every failure, in words, with what the user can do about it.
#[component]
fn Banner() -> impl IntoView {
    let state = expect_context::<AppState>();
    move || {
        state.failure.get().map(|failure| {
            let (title, advice) = match failure.kind {
                ErrorKind::NoWebGpu => (
                    "WebGPU is not available",
                    "Use a recent Chrome or Edge (version 113 or later) on a computer with a GPU. On Linux, WebGPU may need chrome://flags/#enable-unsafe-webgpu; chrome://gpu shows what the browser found. Without a GPU, choose to run on the CPU (slower).",
                ),
                ErrorKind::Download => ("The download failed", "Check the connection (or the URL) and retry."),
                ErrorKind::Model => ("This model cannot be loaded", "Pick a GGUF file of a llama, qwen2, qwen3 or gemma3 model (F32/F16/BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K)."),
                ErrorKind::Gpu => ("The GPU stopped", "The device was lost or ran out of memory. Restart the engine to reload the models; a smaller model or a smaller N needs less memory."),
                ErrorKind::Run => ("Something went wrong", ""),
            };
            let kind = format!("{:?}", failure.kind).to_lowercase();
            let retry = (failure.kind == ErrorKind::Download).then(|| {
                let role = failure.role;
                view! {
                    <button on:click=move |_| {
                        let source = role.and_then(|r| state.sources.get_untracked().get(&r).cloned().map(|s| (r, s)));
                        if let Some((role, source)) = source {
                            state.load(role, source, None);
                        }
                    }>"Retry"</button>
                }
            });
            let restart = (failure.kind == ErrorKind::Gpu).then(|| {
                view! { <button on:click=move |_| restart_engine(state)>"Restart the engine and reload the models"</button> }
            });
            view! {
                <div class="banner" role="alert" data-testid="error" data-kind=kind>
                    <strong>{title}</strong>
                    <p class="message">{failure.message}</p>
                    <p class="advice">{advice}</p>
                    {retry}
                    {restart}
                </div>
            }
        })
    }
}

/// A fresh worker, then every model loaded before (from the cache; picked files must be picked again).
pub(crate) fn restart_engine(state: AppState) {
    state.failure.set(None);
    state.loaded.set(Default::default());
    engine::start(state);
    for (role, source) in state.sources.get_untracked() {
        if !matches!(source, ModelSource::LocalFile { .. } | ModelSource::Adapter { url: None, .. }) {
            state.load(role, source, None);
        }
    }
}

pub fn megabytes(bytes: f64) -> String {
    format!("{:.1} MB", bytes / 1e6)
}
