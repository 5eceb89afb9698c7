//! Benchmark mode: the pipeline over K bundled problems of one task, the same accuracy table as
//! the CLI's `eval`, and the records as a JSONL download.

use cotnpot_pipeline::report::Report;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use super::problem::Sample;
use super::state::AppState;
use crate::protocol::Role;

#[component]
pub fn BenchPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let samples = expect_context::<RwSignal<Vec<Sample>>>();
    let task = RwSignal::new("gsm8k".to_string());
    let k = RwSignal::new(4usize);
    let available = move || samples.with(|s| s.iter().filter(|x| x.task == task.get()).count());
    let start = move |_| {
        let t = task.get_untracked();
        let problems: Vec<_> = samples.with_untracked(|s| s.iter().filter(|x| x.task == t).filter_map(Sample::problem).take(k.get_untracked()).collect());
        state.start_bench(problems);
    };
    let table = move || {
        state.bench.with(|b| (!b.records.is_empty()).then(|| Report::from_records(&b.records).table()))
    };
    let download = move |_| {
        let jsonl: String = state.bench.with_untracked(|b| b.records.iter().map(|r| serde_json::to_string(r).unwrap_or_default() + "\n").collect());
        save("cotnpot-records.jsonl", &jsonl);
    };
    view! {
        <section class="panel bench" data-testid="bench">
            <h2>"Benchmark"</h2>
            <p>"Runs the pipeline with the settings above over the bundled problems of one task and shows the per-strategy accuracy."</p>
            <select prop:value=move || task.get() on:change=move |ev| task.set(event_target_value(&ev))>
                <option value="gsm8k">"GSM8K"</option>
                <option value="math">"MATH-500"</option>
                <option value="mbpp">"MBPP"</option>
            </select>
            <label>"K "<input type="number" min="1" prop:value=move || k.get()
                on:change=move |ev| k.set(event_target_value(&ev).parse::<usize>().unwrap_or(1).clamp(1, available().max(1)))/></label>
            <span>{move || format!("of {}", available())}</span>
            <button data-testid="bench-run" on:click=start
                disabled=move || state.bench.with(|b| b.running) || state.run.with(|r| r.running) || !state.loaded.with(|l| l.contains_key(&Role::Reasoner))>"Run"</button>
            <button on:click=move |_| state.stop() disabled=move || !state.bench.with(|b| b.running)>"Stop"</button>
            <progress max=move || state.bench.with(|b| b.total) value=move || state.bench.with(|b| b.records.len())></progress>
            <span data-testid="bench-progress">{move || state.bench.with(|b| format!("{} of {} problems", b.records.len(), b.total))}</span>
            {move || table().map(|t| view! {
                <pre class="table" data-testid="bench-table">{t}</pre>
                <button on:click=download>"Download the records (JSONL)"</button>
            })}
        </section>
    }
}

/// Offers `text` as a file download.
fn save(name: &str, text: &str) {
    let parts = js_sys::Array::of1(&text.into());
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("application/x-ndjson");
    let Ok(blob) = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options) else { return };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else { return };
    let Some(document) = web_sys::window().and_then(|w| w.document()) else { return };
    if let Ok(a) = document.create_element("a") {
        let a: web_sys::HtmlAnchorElement = a.unchecked_into();
        a.set_href(&url);
        a.set_download(name);
        a.click();
    }
    let _ = web_sys::Url::revoke_object_url(&url);
}
