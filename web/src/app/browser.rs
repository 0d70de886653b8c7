//! The few browser APIs the app uses directly. Each one degrades to doing nothing when the
//! browser refuses (private mode storage, a detached element): none of them is worth a panic.

use api_types::json::js_error;
use wasm_bindgen::{JsCast, closure::Closure};

fn window() -> Option<web_sys::Window> {
    web_sys::window()
}

pub fn pathname() -> String {
    window().and_then(|window| window.location().pathname().ok()).unwrap_or_else(|| "/".into())
}

pub fn push_path(path: &str) {
    if let Some(history) = window().and_then(|window| window.history().ok()) {
        let _ = history.push_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(path));
    }
}

pub fn replace_path(path: &str) {
    if let Some(history) = window().and_then(|window| window.history().ok()) {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(path));
    }
}

/// Calls `handler` with the new path whenever the user goes back or forward.
pub fn on_popstate(handler: impl FnMut(String) + 'static) {
    let Some(window) = window() else { return };
    let mut handler = handler;
    let closure = Closure::<dyn FnMut()>::new(move || handler(pathname()));
    if window.add_event_listener_with_callback("popstate", closure.as_ref().unchecked_ref()).is_ok() {
        // Registered once for the life of the page.
        closure.forget();
    }
}

fn storage() -> Option<web_sys::Storage> {
    window()?.local_storage().ok()?
}

pub fn storage_get(key: &str) -> Option<String> {
    storage()?.get_item(key).ok()?
}

pub fn storage_set(key: &str, value: &str) {
    if let Some(storage) = storage() {
        let _ = storage.set_item(key, value);
    }
}

pub fn storage_remove(key: &str) {
    if let Some(storage) = storage() {
        let _ = storage.remove_item(key);
    }
}

fn element(id: &str) -> Option<web_sys::HtmlElement> {
    window()?.document()?.get_element_by_id(id)?.dyn_into().ok()
}

pub fn focus(id: &str) {
    if let Some(element) = element(id) {
        let _ = element.focus();
    }
}

pub fn scroll_to_bottom(id: &str) {
    if let Some(element) = element(id) {
        element.set_scroll_top(element.scroll_height());
    }
}

/// Resolves after `millis`; dropping the future (a restarted resource) simply abandons it.
pub async fn sleep(millis: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        if let Some(window) = window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, millis);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// A fetch response's body, read chunk by chunk as it arrives. Dropped before its end (the
/// panel went away mid-answer), it cancels the rest of the download.
pub struct BodyReader {
    reader: web_sys::ReadableStreamDefaultReader,
    finished: bool,
}

impl BodyReader {
    pub fn new(body: &web_sys::ReadableStream) -> Result<Self, String> {
        let reader = web_sys::ReadableStreamDefaultReader::new(body).map_err(|error| js_error(&error))?;
        Ok(Self { reader, finished: false })
    }

    /// The next chunk, or `None` at the end of the body.
    pub async fn next(&mut self) -> Result<Option<Vec<u8>>, String> {
        let read = wasm_bindgen_futures::JsFuture::from(self.reader.read()).await.map_err(|error| {
            self.finished = true;
            js_error(&error)
        })?;
        let read: web_sys::ReadableStreamReadResult = read.unchecked_into();
        if read.get_done().unwrap_or(false) {
            self.finished = true;
            return Ok(None);
        }
        Ok(Some(read.get_value().unchecked_into::<js_sys::Uint8Array>().to_vec()))
    }
}

impl Drop for BodyReader {
    fn drop(&mut self) {
        if !self.finished {
            // Awaited so that a refusal is not an unhandled rejection in the console.
            let cancelled = wasm_bindgen_futures::JsFuture::from(self.reader.cancel());
            wasm_bindgen_futures::spawn_local(async move {
                let _ = cancelled.await;
            });
        }
    }
}

/// A named point on the page's performance timeline, read by the browser tests and by anyone
/// profiling in devtools (`performance.getEntriesByType("mark")`).
pub fn mark(name: &str) {
    if let Some(performance) = window().and_then(|window| window.performance()) {
        let _ = performance.mark(name);
    }
}
