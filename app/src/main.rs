//! cotnpot's page. The same wasm module runs twice: on the page, where `main` mounts the leptos
//! UI, and in the engine worker, where `main` finds no window and public/engine-worker.js calls
//! `worker::engine_worker_main` instead.

#[cfg(target_arch = "wasm32")]
mod protocol;
#[cfg(target_arch = "wasm32")]
mod ui;
#[cfg(target_arch = "wasm32")]
mod worker;

fn main() {
    #[cfg(target_arch = "wasm32")]
    if web_sys::window().is_some() {
        console_error_panic_hook::set_once();
        ui::mount();
    }
}
