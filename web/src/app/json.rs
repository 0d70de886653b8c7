//! JSON from the server, read by the browser's own parser: `JSON.parse` builds the value and
//! serde-wasm-bindgen hands it to the contract's derived deserializers, so the app carries no
//! JSON parser of its own (7 KB brotli less than serde_json's; docs/benchmarks.md).
//!
//! As strict as serde_json where the contract needs it: integers must be whole and within
//! JavaScript's safe range (2^53) and the field's type, or the value is refused, never rounded.
//! Where it is not: a repeated key keeps its last value, and a lone UTF-16 surrogate in a string
//! (which the backend, writing Rust strings, never sends) becomes U+FFFD.
//!
//! JSON to the server (request bodies, the stored session, a tool call's arguments) is written
//! the same way round: serde-wasm-bindgen builds the value and `JSON.stringify` writes it, so no
//! JSON writer is linked either (docs/benchmarks.md).

use api_types::JsonReader;
use serde::{Serialize, de::DeserializeOwned};

/// The browser's `JSON.parse`.
pub struct BrowserJson;

impl JsonReader for BrowserJson {
    fn read<T: DeserializeOwned>(&self, text: &str) -> Result<T, String> {
        serde_wasm_bindgen::from_value(parse(text)?).map_err(|error| error.to_string())
    }
}

/// `JSON.parse`, outside the generic `read`: compiled once, not once per type.
#[inline(never)]
fn parse(text: &str) -> Result<wasm_bindgen::JsValue, String> {
    js_sys::JSON::parse(text).map_err(|error| super::browser::describe(&error))
}

/// `value` as JSON text, written by the browser's `JSON.stringify`: the same text as
/// serde_json's for the contract's types (fields in declaration order, `null` for `None`, an
/// integer for a whole number), except that an integer beyond 2^53 is refused, not written.
pub fn write<T: Serialize + ?Sized>(value: &T) -> Result<js_sys::JsString, String> {
    let value =
        value.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(|error| error.to_string())?;
    js_sys::JSON::stringify(&value).map_err(|error| super::browser::describe(&error))
}

/// A JSON value as the browser's own, built by hand: the one map-shaped thing the app writes,
/// so serde-wasm-bindgen's map serializer is not linked for it. Every number the app holds
/// came from `JSON.parse`, so each one is a JavaScript number again.
pub fn value_to_js(value: &serde_json::Value) -> wasm_bindgen::JsValue {
    use serde_json::Value;
    match value {
        Value::Null => wasm_bindgen::JsValue::NULL,
        Value::Bool(value) => (*value).into(),
        Value::Number(number) => number.as_f64().unwrap_or(f64::NAN).into(),
        Value::String(text) => text.into(),
        Value::Array(items) => items.iter().map(value_to_js).collect::<js_sys::Array>().into(),
        Value::Object(fields) => {
            let object = js_sys::Object::new();
            for (name, field) in fields {
                let _ = js_sys::Reflect::set(&object, &name.into(), &value_to_js(field));
            }
            object.into()
        }
    }
}
