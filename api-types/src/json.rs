//! How a client turns JSON text into the contract's types: serde_json's parser in the backend
//! and on the host; the browser app hands the text to the browser's own (`JSON.parse`) and links
//! no parser of its own. Either way the derived deserializers of this crate read the value.

use serde::de::DeserializeOwned;

/// A JSON parser, for the decoders here that every client shares ([`crate::ChatEvent::decode_with`]).
pub trait JsonReader {
    /// `text` as a `T`, or why not, in words.
    fn read<T: DeserializeOwned>(&self, text: &str) -> Result<T, String>;
}

/// serde_json's parser.
#[derive(Debug, Clone, Copy, Default)]
pub struct SerdeJson;

impl JsonReader for SerdeJson {
    fn read<T: DeserializeOwned>(&self, text: &str) -> Result<T, String> {
        serde_json::from_str(text).map_err(|error| error.to_string())
    }
}

/// The browser's `JSON.parse` builds the value and serde-wasm-bindgen hands it to the derived
/// deserializers: 8.5 KB brotli less of the web app than serde_json's parser (docs/benchmarks.md).
///
/// As strict as serde_json where the contract needs it: an integer must be whole, within
/// JavaScript's safe range (2^53) and within its field's type, or it is refused, never rounded.
/// Where it is not: a repeated key keeps its last value; in a free-form value (a tool call's
/// arguments) a whole number written with a fraction (`1.0`) reads as the integer; and a lone
/// UTF-16 surrogate escaped in a string (which the backend, writing Rust strings, never sends)
/// becomes U+FFFD.
#[cfg(target_arch = "wasm32")]
#[derive(Debug, Clone, Copy, Default)]
pub struct BrowserJson;

#[cfg(target_arch = "wasm32")]
impl JsonReader for BrowserJson {
    fn read<T: DeserializeOwned>(&self, text: &str) -> Result<T, String> {
        serde_wasm_bindgen::from_value(parse(text)?).map_err(|error| error.to_string())
    }
}

#[cfg(target_arch = "wasm32")]
impl BrowserJson {
    /// `value` as JSON text, built by serde-wasm-bindgen and written by the browser's
    /// `JSON.stringify`, so that no JSON writer is linked either: the same text as serde_json's
    /// for the contract's types (fields in declaration order, `null` for `None`, an integer for
    /// a whole number), except that an integer beyond 2^53 is refused, not written.
    pub fn write<T: serde::Serialize + ?Sized>(&self, value: &T) -> Result<js_sys::JsString, String> {
        js_sys::JSON::stringify(&self.to_js(value)?).map_err(|error| js_error(&error))
    }

    /// `value` as the JavaScript value that [`BrowserJson::write`] writes: objects, arrays,
    /// strings, numbers, booleans and `null`.
    pub fn to_js<T: serde::Serialize + ?Sized>(&self, value: &T) -> Result<wasm_bindgen::JsValue, String> {
        value.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(|error| error.to_string())
    }
}

/// `JSON.parse`, outside the generic `read`: compiled once, not once per type.
#[cfg(target_arch = "wasm32")]
#[inline(never)]
fn parse(text: &str) -> Result<wasm_bindgen::JsValue, String> {
    js_sys::JSON::parse(text).map_err(|error| js_error(&error))
}

/// What a JavaScript exception says: an `Error`'s message, or a thrown string. Public for the
/// web app's other calls into the browser, so that every error it shows is worded alike.
#[cfg(target_arch = "wasm32")]
pub fn js_error(error: &wasm_bindgen::JsValue) -> String {
    use wasm_bindgen::JsCast;
    match error.dyn_ref::<js_sys::Error>() {
        Some(error) => error.message().into(),
        None => error.as_string().unwrap_or_else(|| "the browser gave no reason".to_owned()),
    }
}

/// BrowserJson in a JavaScript engine (Node, `scripts/test-wasm.sh`), beside serde_json on the
/// same text: what one reads the other reads alike, and what serde_json refuses for the contract
/// BrowserJson refuses too.
#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use super::*;
    use crate::{
        AuthResponse, ChangePasswordRequest, ChatEvent, ChatRequest, CompleteRequest, ErrorBody, NewTask, Priority,
        SignUpRequest, Task, TaskPage, TaskPatch, ToolCallRecord,
    };
    use wasm_bindgen_test::wasm_bindgen_test;

    fn both<T: DeserializeOwned + PartialEq + std::fmt::Debug>(text: &str) -> Result<T, (String, String)> {
        match (SerdeJson.read::<T>(text), BrowserJson.read::<T>(text)) {
            (Ok(serde), Ok(browser)) => {
                assert_eq!(serde, browser, "{text}");
                Ok(browser)
            }
            (Err(serde), Err(browser)) => Err((serde, browser)),
            (serde, browser) => panic!("{text}: serde_json {serde:?}, the browser {browser:?}"),
        }
    }

    const TASK: &str = r#"{"id":7,"title":"Buy milk \u00e9\ud83d\ude00\n","description":null,"completed":false,
        "priority":"high","tags":["home","x"],"due_at":"2026-11-27T00:00:00Z","unknown":[1,{"a":null}],
        "created_at":"2026-11-26T10:00:00.123456Z","updated_at":"2026-11-26T10:00:00Z"}"#;

    #[wasm_bindgen_test]
    fn reads_the_contract_as_serde_json_does() {
        let task: Task = both(TASK).unwrap();
        assert_eq!(task.title, "Buy milk \u{e9}\u{1f600}\n");
        assert_eq!(task.priority, Priority::High);
        let page =
            format!(r#"{{"items":[{TASK}],"total":1,"total_exact":true,"limit":50,"offset":0,"next_offset":null}}"#);
        assert_eq!(both::<TaskPage>(&page).unwrap().items, [task]);
        let record = r#"{"name":"add_task","arguments":{"title":"x","n":1.5,"big":9007199254740991},
            "result":{"ok":true,"task":{"id":3}},"change_id":4,"undone":false}"#;
        both::<ToolCallRecord>(record).unwrap();
        let error = r#"{"error":"validation","message":"m","fields":[{"field":"title","message":"empty"}]}"#;
        both::<ErrorBody>(error).unwrap();
        let event = r#"{"type":"error","status":503,"error":{"error":"e","message":"m"}}"#;
        let (serde, browser) =
            (ChatEvent::decode("error", event), ChatEvent::decode_with(&BrowserJson, "error", event));
        assert_eq!(serde.unwrap(), browser.unwrap());
    }

    #[wasm_bindgen_test]
    fn writes_the_contract_as_serde_json_does() {
        fn same<T: serde::Serialize>(value: &T) {
            let serde = serde_json::to_string(value).unwrap();
            assert_eq!(String::from(BrowserJson.write(value).unwrap()), serde);
        }
        let at = chrono::DateTime::parse_from_rfc3339("2026-12-04T17:00:00.5Z").unwrap().to_utc();
        let password = "p \"q\"\n\u{e9}\u{1f600}\u{7f}".to_owned();
        same(&SignUpRequest { email: "a@b.c".into(), password, name: "Ada".into() });
        same(&ChangePasswordRequest { current_password: "a".into(), new_password: "b".into() });
        same(&NewTask {
            title: "t".into(),
            description: None,
            priority: None,
            tags: None,
            due_at: None,
            completed: None,
        });
        same(&NewTask {
            title: "t".into(),
            description: Some("d".into()),
            priority: Some(Priority::Low),
            tags: Some(vec!["a".into(), "b".into()]),
            due_at: Some(at),
            completed: Some(true),
        });
        same(&TaskPatch { description: Some(None), due_at: Some(None), ..TaskPatch::default() });
        same(&TaskPatch { due_at: Some(Some(at)), title: Some("x".into()), ..TaskPatch::default() });
        same(&CompleteRequest { completed: Some(false) });
        same(&ChatRequest { conversation_id: None, message: "hi".into(), time_zone: Some("Europe/Paris".into()) });
        same(&ChatRequest { conversation_id: Some("c".into()), message: "hi".into(), time_zone: None });
        let session = r#"{"user":{"id":"u","email":"a@b.c","name":"A","created_at":"2026-11-26T10:00:00Z"},
            "token":"t","expires_at":"2026-11-27T10:00:00.123Z"}"#;
        same(&SerdeJson.read::<AuthResponse>(session).unwrap());

        // Past 2^53 the browser's number would round it: refused.
        let mut task: Task = SerdeJson.read(TASK).unwrap();
        same(&task);
        task.id = 9_007_199_254_740_993;
        assert!(BrowserJson.write(&task).is_err());
    }

    #[wasm_bindgen_test]
    fn refuses_what_serde_json_refuses() {
        let with =
            |field: &str, value: &str| TASK.replacen(&format!(r#""{field}":7"#), &format!(r#""{field}":{value}"#), 1);
        for id in ["7.5", "-1e400", "1e20", "\"7\"", "null", "true"] {
            both::<Task>(&with("id", id)).unwrap_err();
        }
        // Past 2^53 a JavaScript number cannot hold every integer: refused, never rounded, where
        // serde_json reads it.
        let beyond = with("id", "9007199254740993");
        assert_eq!(SerdeJson.read::<Task>(&beyond).unwrap().id, 9_007_199_254_740_993);
        let error = BrowserJson.read::<Task>(&beyond).unwrap_err();
        assert!(error.contains("expected i64"), "{error}");
        let event =
            |status: &str| format!(r#"{{"type":"error","status":{status},"error":{{"error":"e","message":"m"}}}}"#);
        for status in ["70000", "-1", "503.5"] {
            let error = ChatEvent::decode_with(&BrowserJson, "error", &event(status)).unwrap_err();
            assert!(error.to_string().starts_with(r#"an unreadable "error" event"#), "{status}: {error}");
            ChatEvent::decode("error", &event(status)).unwrap_err();
        }
        for text in ["", "{", r#"{"id":7,}"#, "[1,2", "nul", r#"{"a":"\x"}"#, "{} x", "NaN"] {
            let (_, browser) = both::<ErrorBody>(text).unwrap_err();
            assert!(!browser.is_empty(), "{text:?}");
        }
        // A field of the wrong kind, or missing, or a priority the contract does not have.
        both::<Task>(&TASK.replace(r#""completed":false"#, r#""completed":"no""#)).unwrap_err();
        both::<Task>(&TASK.replace(r#""title":"Buy milk \u00e9\ud83d\ude00\n","#, "")).unwrap_err();
        both::<Task>(&TASK.replace(r#""priority":"high""#, r#""priority":"urgent""#)).unwrap_err();
        both::<Task>(&TASK.replace("2026-11-26T10:00:00Z", "2026-11-26 10:00:00")).unwrap_err();
    }
}
