//! Choosing a model for each role: Hub presets, any URL (e.g. a file under the page's own
//! `public/models/`), or a local file; download progress; what the cache holds.

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::engine;
use super::megabytes;
use super::state::{AppState, now};
use crate::protocol::{ModelSource, Role, ToEngine};

struct Preset {
    label: &'static str,
    repo: &'static str,
    file: &'static str,
}

const REASONERS: &[Preset] = &[
    Preset { label: "Qwen2.5-1.5B-Instruct (Q4_K_M, 1.1 GB)", repo: "Qwen/Qwen2.5-1.5B-Instruct-GGUF", file: "qwen2.5-1.5b-instruct-q4_k_m.gguf" },
    Preset { label: "Qwen2.5-0.5B-Instruct (Q4_K_M, 0.4 GB)", repo: "Qwen/Qwen2.5-0.5B-Instruct-GGUF", file: "qwen2.5-0.5b-instruct-q4_k_m.gguf" },
];
const CODERS: &[Preset] =
    &[Preset { label: "Qwen2.5-Coder-0.5B-Instruct (Q4_K_M, 0.4 GB)", repo: "Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF", file: "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf" }];

fn presets(role: Role) -> &'static [Preset] {
    match role {
        Role::Reasoner => REASONERS,
        Role::Coder => CODERS,
        Role::Verifier => &[],
    }
}

fn hub_url(p: &Preset) -> String {
    format!("https://huggingface.co/{}/resolve/main/{}", p.repo, p.file)
}

#[component]
pub fn ModelPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let adapter = move || {
        state.adapter.get().map(|a| {
            format!(
                "GPU: {} · shader-f16: {} · largest buffer {} · largest storage binding {}",
                a.description,
                if a.shader_f16 { "yes" } else { "no (f32 path)" },
                megabytes(a.max_buffer_size),
                megabytes(a.max_storage_buffer_binding_size)
            )
        })
    };
    view! {
        <section class="panel models">
            <h2>"Models"</h2>
            <p class="adapter" data-testid="adapter">{move || adapter().unwrap_or_else(|| "Looking for a WebGPU adapter…".into())}</p>
            <RoleRow role=Role::Reasoner/>
            <RoleRow role=Role::Coder/>
            <RoleRow role=Role::Verifier/>
            <CacheView/>
        </section>
    }
}

#[component]
fn RoleRow(role: Role) -> impl IntoView {
    let state = expect_context::<AppState>();
    // "0", "1", … a preset; "same", "url", "file".
    let choice = RwSignal::new(if role == Role::Reasoner { "0".to_string() } else { "same".to_string() });
    let url = RwSignal::new(String::new());
    let tokenizer = RwSignal::new(String::new());
    let file_input: NodeRef<leptos::html::Input> = NodeRef::new();
    let key = format!("{role:?}").to_lowercase();

    let load = move |_| {
        let choice = choice.get_untracked();
        let source = match choice.as_str() {
            "same" => ModelSource::SameAs { role: Role::Reasoner },
            "url" => {
                let tok = tokenizer.get_untracked();
                ModelSource::Url { gguf: url.get_untracked().trim().to_string(), tokenizer: (!tok.trim().is_empty()).then(|| tok.trim().to_string()) }
            }
            "adapter" => {
                let picked = file_input.get_untracked().and_then(|i| i.files()).and_then(|f| f.get(0));
                let adapter_url = url.get_untracked().trim().to_string();
                match picked {
                    Some(file) => {
                        let name = file.name();
                        wasm_bindgen_futures::spawn_local(async move {
                            if let Ok(buffer) = JsFuture::from(file.array_buffer()).await {
                                state.load(role, ModelSource::Adapter { base: Role::Reasoner, name, url: None }, Some(buffer.unchecked_into()));
                            }
                        });
                        return;
                    }
                    None if !adapter_url.is_empty() => {
                        let name = adapter_url.rsplit('/').next().unwrap_or(&adapter_url).to_string();
                        ModelSource::Adapter { base: Role::Reasoner, name, url: Some(adapter_url) }
                    }
                    None => return,
                }
            }
            "file" => {
                let Some(file) = file_input.get_untracked().and_then(|i| i.files()).and_then(|f| f.get(0)) else { return };
                let name = file.name();
                wasm_bindgen_futures::spawn_local(async move {
                    if let Ok(buffer) = JsFuture::from(file.array_buffer()).await {
                        state.load(role, ModelSource::LocalFile { name }, Some(buffer.unchecked_into()));
                    }
                });
                return;
            }
            index => match index.parse::<usize>().ok().and_then(|i| presets(role).get(i)) {
                Some(p) => ModelSource::Url { gguf: hub_url(p), tokenizer: None },
                None => return,
            },
        };
        state.load(role, source, None);
    };

    let options = presets(role).iter().enumerate().map(|(i, p)| view! { <option value=i.to_string()>{p.label}</option> }).collect_view();
    let same_label = match role {
        Role::Reasoner => None,
        Role::Coder => Some("Same as the reasoner"),
        Role::Verifier => Some("The reasoner itself (self-scoring)"),
    };
    let status = move || {
        if let Some(m) = state.loaded.with(|l| l.get(&role).cloned()) {
            return format!("{} · {} · weights on the GPU {} · loaded in {:.1} s", m.name, m.architecture, megabytes(m.weights_mb * 1e6), m.seconds);
        }
        if role != Role::Reasoner && !state.loaded.with(|l| l.contains_key(&role)) {
            if let Some(r) = state.loaded.with(|l| l.get(&Role::Reasoner).cloned()) {
                return format!("using the reasoner ({})", r.name);
            }
        }
        "not loaded".into()
    };
    let (row_id, url_id, load_id, status_id) = (format!("role-{key}"), format!("url-{key}"), format!("load-{key}"), format!("status-{key}"));
    view! {
        <div class="role" data-testid=row_id>
            <label class="role-name">{role.label()}</label>
            <select on:change=move |ev| choice.set(event_target_value(&ev)) prop:value=move || choice.get()>
                {same_label.map(|l| view! { <option value="same">{l}</option> })}
                {options}
                <option value="url">"A URL (e.g. public/models/your.gguf)"</option>
                <option value="file">"A file on this computer"</option>
                {(role == Role::Verifier).then(|| view! { <option value="adapter">"A trained verifier for the reasoner (cotnpot train-verifier adapter)"</option> })}
            </select>
            <Show when=move || choice.get() == "adapter">
                <input type="url" class="url" placeholder="adapter URL (…/adapter.safetensors), or pick the file" data-testid=format!("adapter-url-{key}")
                    prop:value=move || url.get() on:input=move |ev| url.set(event_target_value(&ev))/>
                <input type="file" accept=".safetensors" node_ref=file_input data-testid="adapter-file"/>
            </Show>
            <Show when=move || choice.get() == "url">
                <input type="url" class="url" placeholder="https://…/model.gguf" data-testid=url_id.clone()
                    prop:value=move || url.get() on:input=move |ev| url.set(event_target_value(&ev))/>
                <input type="url" class="url" placeholder="tokenizer.json URL (optional)"
                    prop:value=move || tokenizer.get() on:input=move |ev| tokenizer.set(event_target_value(&ev))/>
            </Show>
            <Show when=move || choice.get() == "file">
                <input type="file" accept=".gguf" node_ref=file_input/>
            </Show>
            <button data-testid=load_id on:click=load disabled=move || state.loading.get().is_some() || state.adapter.get().is_none()>
                "Load"
            </button>
            <DownloadBar role=role/>
            <span class="status" data-testid=status_id>{status}</span>
        </div>
    }
}

#[component]
fn DownloadBar(role: Role) -> impl IntoView {
    let state = expect_context::<AppState>();
    move || {
        let d = state.downloads.with(|d| d.get(&role).cloned())?;
        let loading = state.loading.get() == Some(role);
        let elapsed = (now() - d.started).max(1e-3);
        let rate = d.loaded / elapsed;
        let text = match d.total {
            Some(total) => {
                let eta = if rate > 0.0 { (total - d.loaded) / rate } else { f64::INFINITY };
                let eta = if d.loaded >= total { String::new() } else { format!(" · {eta:.0} s left") };
                format!("{} of {} · {}/s{eta}", megabytes(d.loaded), megabytes(total), megabytes(rate))
            }
            None => format!("{} · {}/s", megabytes(d.loaded), megabytes(rate)),
        };
        let source = if d.from_cache { " (from the browser cache)" } else { "" };
        let max = d.total.unwrap_or(0.0);
        Some(view! {
            <span class="download" class:done=!loading data-testid="download" data-from-cache=d.from_cache.to_string()>
                <progress max=max value=d.loaded></progress>
                {format!("{text}{source}")}
            </span>
        })
    }
}

#[component]
fn CacheView() -> impl IntoView {
    let state = expect_context::<AppState>();
    let total = move || state.cache.with(|c| c.iter().map(|e| e.bytes).sum::<f64>());
    view! {
        <details class="cache" data-testid="cache">
            <summary>{move || format!("Stored in this browser: {} model files, {}", state.cache.with(Vec::len), megabytes(total()))}</summary>
            <ul>
                {move || state.cache.get().into_iter().map(|e| view! { <li>{e.url}" — "{megabytes(e.bytes)}</li> }).collect_view()}
            </ul>
            <button on:click=move |_| engine::send(&ToEngine::ClearCache)>"Clear the cache"</button>
        </details>
    }
}
