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
