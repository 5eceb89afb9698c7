//! The page's handle on the engine worker: starts it, sends typed messages, routes replies into
//! the page state, and restarts it after a crash.

use std::cell::RefCell;

use js_sys::{ArrayBuffer, Reflect};
use leptos::prelude::GetUntracked;
use wasm_bindgen::prelude::*;
use web_sys::{ErrorEvent, MessageEvent, Worker, WorkerOptions, WorkerType};

use super::state::AppState;
use crate::protocol::{ErrorKind, FromEngine, ToEngine};

struct Handle {
    worker: Worker,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(ErrorEvent)>,
}

#[wasm_bindgen]
extern "C" {
    /// This module's JavaScript glue, by the URL the page loaded it from (its name carries a hash
    /// in a site build): the engine worker instantiates the same module.
    #[wasm_bindgen(thread_local_v2, js_namespace = ["import", "meta"], js_name = url)]
    static MODULE_URL: String;
}

thread_local! {
    static ENGINE: RefCell<Option<Handle>> = const { RefCell::new(None) };
}

/// Starts (or restarts) the engine worker and asks it to take the device the page chose.
pub fn start(state: AppState) {
    stop_worker();
    let options = WorkerOptions::new();
    options.set_type(WorkerType::Module);
    let script = format!("public/engine-worker.js?module={}", js_sys::encode_uri_component(&MODULE_URL.with(String::clone)));
    let worker = match Worker::new_with_options(&script, &options) {
        Ok(worker) => worker,
        Err(e) => return state.fail(ErrorKind::Run, None, format!("could not start the engine worker: {e:?}")),
    };
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        let Some(text) = event.data().as_string() else { return };
        match serde_json::from_str::<FromEngine>(&text) {
            Ok(message) => state.apply(message),
            Err(e) => state.fail(ErrorKind::Run, None, format!("unreadable engine message: {e}")),
        }
    });
    let on_error = Closure::<dyn FnMut(ErrorEvent)>::new(move |event: ErrorEvent| {
        state.fail(ErrorKind::Gpu, None, format!("the engine worker crashed: {}", event.message()));
    });
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    ENGINE.with(|e| *e.borrow_mut() = Some(Handle { worker, _on_message: on_message, _on_error: on_error }));
    send(&ToEngine::Init { device: state.device_choice.get_untracked() });
}

fn stop_worker() {
    ENGINE.with(|e| {
        if let Some(handle) = e.borrow_mut().take() {
            handle.worker.terminate();
        }
    });
}

pub fn send(message: &ToEngine) {
    send_with_bytes(message, None);
}

/// Sends a message; `bytes` (a picked file) is transferred, not copied.
pub fn send_with_bytes(message: &ToEngine, bytes: Option<ArrayBuffer>) {
    let envelope = js_sys::Object::new();
    let json = serde_json::to_string(message).expect("messages serialise");
    let _ = Reflect::set(&envelope, &"json".into(), &json.into());
    let transfer = js_sys::Array::new();
    if let Some(bytes) = bytes {
        let _ = Reflect::set(&envelope, &"bytes".into(), &bytes);
        transfer.push(&bytes);
    }
    ENGINE.with(|e| {
        if let Some(handle) = e.borrow().as_ref() {
            let _ = handle.worker.post_message_with_transfer(&envelope, &transfer);
        }
    });
}
