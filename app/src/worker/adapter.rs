//! What the browser's WebGPU adapter offers, read before any model is loaded so the page can say
//! plainly when a device cannot run a model.

use js_sys::Reflect;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::protocol::AdapterInfo;

fn get(object: &JsValue, key: &str) -> JsValue {
    Reflect::get(object, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

/// The adapter's limits and features, or why there is none.
pub async fn probe() -> Result<AdapterInfo, String> {
    let navigator = get(&js_sys::global(), "navigator");
    let gpu = get(&navigator, "gpu");
    if gpu.is_undefined() {
        return Err("this browser exposes no WebGPU (navigator.gpu is missing)".into());
    }
    let request: js_sys::Function = get(&gpu, "requestAdapter").dyn_into().map_err(|_| "navigator.gpu.requestAdapter is missing")?;
    let promise: js_sys::Promise = request.call0(&gpu).map_err(|e| format!("{e:?}"))?.unchecked_into();
    let adapter = JsFuture::from(promise).await.map_err(|e| format!("requestAdapter failed: {e:?}"))?;
    if adapter.is_null() || adapter.is_undefined() {
        return Err("the browser has WebGPU but offers no adapter (GPU blocklisted or disabled)".into());
    }
    let limits = get(&adapter, "limits");
    let features = get(&adapter, "features");
    let has: js_sys::Function = get(&features, "has").unchecked_into();
    let shader_f16 = has.call1(&features, &"shader-f16".into()).map(|v| v.is_truthy()).unwrap_or(false);
    let info = get(&adapter, "info");
    // `info.isFallbackAdapter` now; older browsers had it on the adapter itself.
    let fallback = get(&info, "isFallbackAdapter").is_truthy() || get(&adapter, "isFallbackAdapter").is_truthy();
    let description = ["vendor", "architecture", "device", "description"]
        .iter()
        .filter_map(|k| get(&info, k).as_string())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    Ok(AdapterInfo {
        description: if description.is_empty() { "unnamed adapter".into() } else { description },
        fallback,
        shader_f16,
        max_buffer_size: get(&limits, "maxBufferSize").as_f64().unwrap_or(0.0),
        max_storage_buffer_binding_size: get(&limits, "maxStorageBufferBindingSize").as_f64().unwrap_or(0.0),
    })
}
