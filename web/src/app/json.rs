//! JSON from the server, read by the browser's own parser: `JSON.parse` builds the value and
//! serde-wasm-bindgen hands it to the contract's derived deserializers, so the app carries no
//! JSON parser of its own (7 KB brotli less than serde_json's; docs/benchmarks.md).
//!
//! As strict as serde_json where the contract needs it: integers must be whole and within
//! JavaScript's safe range (2^53) and the field's type, or the value is refused, never rounded.
//! Where it is not: a repeated key keeps its last value, and a lone UTF-16 surrogate in a string
//! (which the backend, writing Rust strings, never sends) becomes U+FFFD.

use api_types::JsonReader;
use serde::de::DeserializeOwned;

/// The browser's `JSON.parse`.
pub struct BrowserJson;

impl JsonReader for BrowserJson {
    fn read<T: DeserializeOwned>(&self, text: &str) -> Result<T, String> {
        let value = js_sys::JSON::parse(text).map_err(|error| super::browser::describe(&error))?;
        serde_wasm_bindgen::from_value(value).map_err(|error| error.to_string())
    }
}
