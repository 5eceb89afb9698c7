//! Model bytes from a URL: from the Cache API when a previous visit stored them, else a streamed
//! download (reported chunk by chunk) that is stored in the cache as it arrives.

use cotnpot_engine::gguf::ChunkedBytes;
use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Cache, CacheStorage, ReadableStreamDefaultReader, Response, WorkerGlobalScope};

use crate::protocol::CacheEntry;

pub const CACHE_NAME: &str = "cotnpot-models-v1";

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: {message}")]
    Network { url: String, message: String },
}

pub struct Progress {
    pub loaded: f64,
    pub total: Option<f64>,
    pub from_cache: bool,
}

fn scope() -> WorkerGlobalScope {
    js_sys::global().unchecked_into()
}

fn js_message(e: &JsValue) -> String {
    e.as_string()
        .or_else(|| Reflect::get(e, &"message".into()).ok().and_then(|m| m.as_string()))
        .unwrap_or_else(|| format!("{e:?}"))
}

async fn open_cache() -> Option<Cache> {
    // The Cache API is missing on insecure origins; downloads then simply are not kept.
    let storage: CacheStorage = scope().caches().ok()?;
    JsFuture::from(storage.open(CACHE_NAME)).await.ok()?.dyn_into().ok()
}

/// The whole body at `url`, reporting progress; a cached copy is used when there is one.
pub async fn fetch_bytes(url: &str, on_progress: &mut dyn FnMut(Progress)) -> Result<ChunkedBytes, FetchError> {
    let network = |e: JsValue| FetchError::Network { url: url.to_string(), message: js_message(&e) };
    let cache = open_cache().await;
    if let Some(cache) = &cache {
        if let Ok(hit) = JsFuture::from(cache.match_with_str(url)).await {
            if let Ok(response) = hit.dyn_into::<Response>() {
                return read_body(url, response, true, on_progress).await;
            }
        }
    }
    let response: Response = JsFuture::from(scope().fetch_with_str(url)).await.map_err(network)?.unchecked_into();
    if !response.ok() {
        return Err(FetchError::Status { url: url.to_string(), status: response.status() });
    }
    let stored = match &cache {
        // The clone's stream is tee'd: the cache consumes one branch while we read the other.
        // A download that fails midway makes `put` reject, so no partial file is ever cached.
        Some(cache) => Some(JsFuture::from(cache.put_with_str(url, &response.clone().map_err(network)?))),
        None => None,
    };
    let bytes = read_body(url, response, false, on_progress).await?;
    if let Some(stored) = stored {
        // A full disk (quota) only costs the offline copy, not this load.
        let _ = stored.await;
    }
    Ok(bytes)
}

async fn read_body(url: &str, response: Response, from_cache: bool, on_progress: &mut dyn FnMut(Progress)) -> Result<ChunkedBytes, FetchError> {
    let network = |e: JsValue| FetchError::Network { url: url.to_string(), message: js_message(&e) };
    let total = response.headers().get("content-length").ok().flatten().and_then(|v| v.parse::<f64>().ok());
    let body = response.body().ok_or_else(|| FetchError::Network { url: url.to_string(), message: "empty response".into() })?;
    let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut bytes = ChunkedBytes::new();
    let mut loaded = 0.0;
    on_progress(Progress { loaded, total, from_cache });
    loop {
        let step = JsFuture::from(reader.read()).await.map_err(network)?;
        if Reflect::get(&step, &"done".into()).map(|d| d.is_truthy()).unwrap_or(true) {
            break;
        }
        let chunk: Uint8Array = Reflect::get(&step, &"value".into()).map_err(network)?.unchecked_into();
        loaded += chunk.length() as f64;
        bytes.push(chunk.to_vec());
        on_progress(Progress { loaded, total, from_cache });
    }
    Ok(bytes)
}

/// The first `limit` bytes at `url` and the whole file's length, without downloading the rest:
/// a range request, and where a server ignores ranges, its body read only that far. A copy in
/// the model cache is read instead when there is one.
pub async fn fetch_prefix(url: &str, limit: usize) -> Result<(Vec<u8>, u64), FetchError> {
    let network = |e: JsValue| FetchError::Network { url: url.to_string(), message: js_message(&e) };
    let cached = match open_cache().await {
        Some(cache) => JsFuture::from(cache.match_with_str(url)).await.ok().and_then(|hit| hit.dyn_into::<Response>().ok()),
        None => None,
    };
    let response = match cached {
        Some(response) => response,
        None => {
            let init = web_sys::RequestInit::new();
            let headers = web_sys::Headers::new().map_err(network)?;
            headers.set("Range", &format!("bytes=0-{}", limit - 1)).map_err(network)?;
            init.set_headers(&headers);
            let request = web_sys::Request::new_with_str_and_init(url, &init).map_err(network)?;
            JsFuture::from(scope().fetch_with_request(&request)).await.map_err(network)?.unchecked_into()
        }
    };
    if !response.ok() {
        return Err(FetchError::Status { url: url.to_string(), status: response.status() });
    }
    let header = |name: &str| response.headers().get(name).ok().flatten();
    // "bytes 0-N/TOTAL" on a partial answer; the body's own length on a whole one.
    let total = match response.status() {
        206 => header("content-range").and_then(|r| r.rsplit('/').next().and_then(|t| t.parse::<u64>().ok())),
        _ => header("content-length").and_then(|l| l.parse::<u64>().ok()),
    };
    let body = response.body().ok_or_else(|| FetchError::Network { url: url.to_string(), message: "empty response".into() })?;
    let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut bytes = Vec::new();
    while bytes.len() < limit {
        let step = JsFuture::from(reader.read()).await.map_err(network)?;
        if Reflect::get(&step, &"done".into()).map(|d| d.is_truthy()).unwrap_or(true) {
            break;
        }
        let chunk: Uint8Array = Reflect::get(&step, &"value".into()).map_err(network)?.unchecked_into();
        bytes.extend(chunk.to_vec());
    }
    let _ = reader.cancel();
    bytes.truncate(limit);
    let total = total.ok_or_else(|| FetchError::Network { url: url.to_string(), message: "the server gave no file length".into() })?;
    Ok((bytes, total))
}

/// What the model cache holds: each URL and its size.
pub async fn list() -> Vec<CacheEntry> {
    let Some(cache) = open_cache().await else { return Vec::new() };
    let Ok(keys) = JsFuture::from(cache.keys()).await else { return Vec::new() };
    let mut entries = Vec::new();
    for request in js_sys::Array::from(&keys).iter() {
        let request: web_sys::Request = request.unchecked_into();
        let url = request.url();
        let bytes = match JsFuture::from(cache.match_with_request(&request)).await.ok().and_then(|r| r.dyn_into::<Response>().ok()) {
            Some(response) => match response.headers().get("content-length").ok().flatten().and_then(|v| v.parse().ok()) {
                Some(len) => len,
                None => match response.blob().map(JsFuture::from) {
                    Ok(blob) => blob.await.ok().map(|b| b.unchecked_into::<web_sys::Blob>().size()).unwrap_or(0.0),
                    Err(_) => 0.0,
                },
            },
            None => 0.0,
        };
        entries.push(CacheEntry { url, bytes });
    }
    entries
}

/// Drops one URL's stored copy: a file the engine refused must not be served again from the
/// cache (a fixed file on the server would otherwise never be fetched).
pub async fn forget(url: &str) {
    if let Some(cache) = open_cache().await {
        let _ = JsFuture::from(cache.delete_with_str(url)).await;
    }
}

pub async fn clear() {
    if let Ok(storage) = scope().caches() {
        let _ = JsFuture::from(storage.delete(CACHE_NAME)).await;
    }
}
