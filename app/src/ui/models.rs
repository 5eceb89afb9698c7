//! Choosing a model for each role: Hub presets, any URL (e.g. a file under the page's own
//! `public/models/`), or a local file; download progress; what the cache holds.

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::engine;
use super::megabytes;
use super::state::{AppState, now};
use crate::protocol::{DeviceChoice, ModelSource, Role, RunsOn, ToEngine};

/// A Hub file the page offers, with the sha256 the download must have, what its authors report
/// it scoring (instruct model, chain of thought, zero-shot unless said), and the maths system
/// prompt its model card asks for, where it asks for one.
struct Preset {
    label: &'static str,
    repo: &'static str,
    file: &'static str,
    sha256: &'static str,
    maths_system: Option<&'static str>,
}

// Reasoners, best published maths first. Scores: the Qwen2.5-Math report (Table 2), the Qwen3
// report (Table 20, non-thinking, which is how the page runs Qwen3), the Qwen2.5 blog, the
// Gemma 3 report (Table 18), Meta's Llama 3.2 model card (GSM8K 8-shot). Gemma 3 270M publishes
// no maths score. Sizes and hashes: the Hub's LFS records for these files.
const REASONERS: &[Preset] = &[
    Preset {
        label: "Qwen2.5-Math-1.5B-Instruct (Q4_K_M, 0.99 GB; GSM8K 84.8, MATH 75.8)",
        repo: "bartowski/Qwen2.5-Math-1.5B-Instruct-GGUF",
        file: "Qwen2.5-Math-1.5B-Instruct-Q4_K_M.gguf",
        sha256: "9614a50f03c897028920ca0dc4365da570bf587f9ee7768261216fe370b37e8e",
        // The Qwen2.5-Math model card's chain-of-thought prompt.
        maths_system: Some("Please reason step by step, and put your final answer within \\boxed{}."),
    },
    Preset {
        label: "Qwen3-1.7B, non-thinking (Q4_K_M, 1.28 GB; MATH-500 73.0)",
        repo: "ggml-org/Qwen3-1.7B-GGUF",
        file: "Qwen3-1.7B-Q4_K_M.gguf",
        sha256: "d2387ca2dbfee2ffabce7120d3770dadca0b293052bc2f0e138fdc940d9bc7b5",
        maths_system: None,
    },
    Preset {
        label: "Qwen2.5-1.5B-Instruct (Q4_K_M, 1.1 GB; GSM8K 73.2, MATH 55.2)",
        repo: "Qwen/Qwen2.5-1.5B-Instruct-GGUF",
        file: "qwen2.5-1.5b-instruct-q4_k_m.gguf",
        sha256: "6a1a2eb6d15622bf3c96857206351ba97e1af16c30d7a74ee38970e434e9407e",
        maths_system: None,
    },
    Preset {
        label: "Gemma 3 1B-it (Q4_K_M, 0.81 GB; GSM8K 62.8, MATH 48.0)",
        repo: "ggml-org/gemma-3-1b-it-GGUF",
        file: "gemma-3-1b-it-Q4_K_M.gguf",
        sha256: "8ccc5cd1f1b3602548715ae25a66ed73fd5dc68a210412eea643eb20eb75a135",
        maths_system: None,
    },
    Preset {
        label: "Qwen3-0.6B, non-thinking (Q4_K_M, 0.40 GB; MATH-500 55.2)",
        repo: "unsloth/Qwen3-0.6B-GGUF",
        file: "Qwen3-0.6B-Q4_K_M.gguf",
        sha256: "ac2d97712095a558e31573f62f466a3f9d93990898b0ec79d7c974c1780d524a",
        maths_system: None,
    },
    Preset {
        label: "Qwen2.5-0.5B-Instruct (Q4_K_M, 0.49 GB; GSM8K 49.6, MATH 34.4)",
        repo: "Qwen/Qwen2.5-0.5B-Instruct-GGUF",
        file: "qwen2.5-0.5b-instruct-q4_k_m.gguf",
        sha256: "74a4da8c9fdbcd15bd1f6d01d621410d31c6fc00986f5eb687824e7b93d7a9db",
        maths_system: None,
    },
    Preset {
        label: "Llama 3.2 1B Instruct (Q4_K_M, 0.81 GB; GSM8K 44.4, MATH 30.6)",
        repo: "bartowski/Llama-3.2-1B-Instruct-GGUF",
        file: "Llama-3.2-1B-Instruct-Q4_K_M.gguf",
        sha256: "6f85a640a97cf2bf5b8e764087b1e83da0fdb51d7c9fab7d0fece9385611df83",
        maths_system: None,
    },
    Preset {
        label: "Gemma 3 270M-it (Q4_K_M, 0.25 GB; no published maths score)",
        repo: "unsloth/gemma-3-270m-it-GGUF",
        file: "gemma-3-270m-it-Q4_K_M.gguf",
        sha256: "b1baabd6b729e4041822220d3e648e00d99cac5df86b10dffb77bcccf0688e39",
        maths_system: None,
    },
];
const CODERS: &[Preset] = &[
    Preset {
        label: "Qwen2.5-Coder-0.5B-Instruct (Q4_K_M, 0.49 GB)",
        repo: "Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF",
        file: "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        sha256: "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        maths_system: None,
    },
    Preset {
        label: "Qwen2.5-Coder-1.5B-Instruct (Q4_K_M, 1.1 GB)",
        repo: "Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
        file: "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        sha256: "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        maths_system: None,
    },
];

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
    let device = move || match state.runs_on.get() {
        None => "Starting the engine…".to_string(),
        Some(RunsOn::Gpu { adapter: a }) => format!(
            "GPU: {}{} · shader-f16: {} · largest buffer {} · largest storage binding {}",
            a.description,
            if a.fallback { " (a software adapter: slower than the CPU path)" } else { "" },
            if a.shader_f16 { "yes" } else { "no (f32 path)" },
            megabytes(a.max_buffer_size),
            megabytes(a.max_storage_buffer_binding_size)
        ),
        Some(RunsOn::Cpu { why }) => {
            format!("CPU: WebAssembly, one thread with 128-bit SIMD ({why}). Slower than a hardware GPU: keep N, the token limits and the model small.")
        }
    };
    let choose = move |ev| {
        let Some(choice) = DeviceChoice::from_name(&event_target_value(&ev)) else { return };
        state.device_choice.set(choice);
        state.runs_on.set(None);
        super::restart_engine(state);
    };
    view! {
        <section class="panel models">
            <h2>"Models"</h2>
            <p class="adapter" data-testid="adapter">{device}</p>
            <label class="device">
                "Run on "
                <select data-testid="device" prop:value=move || state.device_choice.get().name() on:change=choose>
                    <option value="auto">"the GPU, or the CPU where the browser offers no hardware WebGPU adapter"</option>
                    <option value="gpu">"the GPU (WebGPU)"</option>
                    <option value="cpu">"the CPU (WebAssembly)"</option>
                </select>
            </label>
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
        // A reasoner gets the standard prompts unless its preset names its own (below).
        if role == Role::Reasoner {
            state.settings.update(|s| s.maths_system = None);
        }
        let source = match choice.as_str() {
            "same" => ModelSource::SameAs { role: Role::Reasoner },
            "url" => {
                let tok = tokenizer.get_untracked();
                ModelSource::Url { gguf: url.get_untracked().trim().to_string(), tokenizer: (!tok.trim().is_empty()).then(|| tok.trim().to_string()), sha256: None }
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
                Some(p) => {
                    if role == Role::Reasoner {
                        state.settings.update(|s| s.maths_system = p.maths_system.map(str::to_string));
                    }
                    ModelSource::Url { gguf: hub_url(p), tokenizer: None, sha256: Some(p.sha256.to_string()) }
                }
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
            let place = if matches!(state.runs_on.get(), Some(RunsOn::Cpu { .. })) { "in memory (CPU)" } else { "on the GPU" };
            return format!("{} · {} · weights {place} {} · loaded in {:.1} s", m.name, m.architecture, megabytes(m.weights_mb * 1e6), m.seconds);
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
            <select
                on:change=move |ev| {
                    let picked = event_target_value(&ev);
                    if let Some(p) = picked.parse::<usize>().ok().and_then(|i| presets(role).get(i)) {
                        state.inspect(role, hub_url(p));
                    }
                    choice.set(picked);
                }
                prop:value=move || choice.get()
            >
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
                    prop:value=move || url.get() on:input=move |ev| url.set(event_target_value(&ev))
                    on:change=move |ev| {
                        let picked = event_target_value(&ev).trim().to_string();
                        if !picked.is_empty() {
                            state.inspect(role, picked);
                        }
                    }/>
                <input type="url" class="url" placeholder="tokenizer.json URL (optional)"
                    prop:value=move || tokenizer.get() on:input=move |ev| tokenizer.set(event_target_value(&ev))/>
            </Show>
            <Show when=move || choice.get() == "file">
                <input type="file" accept=".gguf" node_ref=file_input/>
            </Show>
            <button data-testid=load_id on:click=load disabled=move || state.loading.get().is_some() || state.runs_on.get().is_none()>
                "Load"
            </button>
            <DownloadBar role=role/>
            <span class="status" data-testid=status_id>{status}</span>
            <FitLine role=role/>
        </div>
    }
}

/// The most memory a 32-bit WebAssembly module can address: the CPU path's whole budget.
const WASM_MEMORY: f64 = 4_294_967_296.0;

/// What the picked model would need on the GPU, and whether this adapter can hold its largest
/// buffer, before the download.
#[component]
fn FitLine(role: Role) -> impl IntoView {
    let state = expect_context::<AppState>();
    let key = format!("fit-{}", format!("{role:?}").to_lowercase());
    move || {
        let fit = state.fits.with(|f| f.get(&role).cloned())?;
        let text = match fit {
            Err(reason) => format!("Could not tell what it needs: {reason}"),
            Ok(e) => {
                let total = e.weights + e.kv_cache + e.activations;
                let on_cpu = matches!(state.runs_on.get(), Some(RunsOn::Cpu { .. }));
                let mut text = format!(
                    "{}: needs about {} {} for N = {} (+ greedy) × {} tokens: weights {}, KV cache {}, activations {}.",
                    e.architecture,
                    megabytes(total),
                    if on_cpu { "in memory" } else { "on the GPU" },
                    e.rows - 1,
                    e.new_tokens,
                    megabytes(e.weights),
                    megabytes(e.kv_cache),
                    megabytes(e.activations)
                );
                match state.runs_on.get() {
                    Some(RunsOn::Gpu { adapter: a }) => {
                        let limit = a.max_buffer_size.min(a.max_storage_buffer_binding_size);
                        if e.largest_buffer > limit {
                            text.push_str(&format!(
                                " Will not fit: one buffer of {} is over this adapter's limit of {}; choose a smaller N or fewer tokens.",
                                megabytes(e.largest_buffer),
                                megabytes(limit)
                            ));
                        }
                    }
                    // The file's bytes are in memory too while the weights are unpacked.
                    Some(RunsOn::Cpu { .. }) if total + e.weights > WASM_MEMORY => {
                        text.push_str(&format!(" Will not fit: WebAssembly's memory holds at most {}; choose a smaller model.", megabytes(WASM_MEMORY)));
                    }
                    _ => {}
                }
                text
            }
        };
        Some(view! { <p class="fit" data-testid=key.clone()>{text}</p> })
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
