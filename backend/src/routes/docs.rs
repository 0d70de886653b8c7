//! `/openapi.json`, generated from the handlers and the `api-types` schemas, and the
//! interactive docs at `/docs` (Swagger UI, vendored in the binary: nothing is downloaded,
//! at build time or in the browser). build.rs keeps only the two files the page loads, gzip
//! compressed: the whole release stored raw was 4.3 MB of the image (docs/benchmarks.md).

use super::{auth, changes, chat, health, responses, tasks};
use crate::state::AppState;
use api_types::{ErrorBody, Priority, SortOrder, StatusFilter, TaskSort};
use axum::{
    Json, Router,
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use std::io::Read;
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

#[derive(OpenApi)]
#[openapi(
    info(title = "todo-chatbot API", description = "Accounts, tasks and the chat agent of todo-chatbot."),
    paths(
        health::liveness, health::readiness,
        auth::sign_up, auth::sign_in, auth::me, auth::refresh,
        auth::sign_out, auth::sign_out_everywhere, auth::change_password,
        tasks::list, tasks::create, tasks::get, tasks::replace, tasks::update, tasks::delete, tasks::complete,
        chat::chat, chat::list, chat::messages, chat::delete, chat::info,
        changes::undo_change, changes::undo_last_turn,
    ),
    // The query parameters' enums: `IntoParams` refers to them without collecting them.
    components(schemas(ErrorBody, Priority, StatusFilter, TaskSort, SortOrder)),
    modifiers(&BearerAuth, &ErrorResponses),
    tags(
        (name = "health", description = "Liveness and readiness"),
        (name = "auth", description = "Accounts and tokens"),
        (name = "tasks", description = "The signed-in user's tasks"),
        (name = "chat", description = "The assistant that manages tasks through tool calls"),
    )
)]
#[derive(Debug)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

/// The shared error responses that `responses::*` groups refer to.
struct ErrorResponses;

impl Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, response) in responses::components() {
            components.responses.insert(name.to_owned(), response.into());
        }
    }
}

/// The page and its start script. Every address is relative, so the docs also work behind a
/// proxy that mounts the backend under a prefix (the page at `<prefix>/docs/`).
const INDEX_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>todo-chatbot API</title>
<link rel="stylesheet" href="swagger-ui.css">
<style>body { margin: 0; }</style>
</head>
<body>
<div id="swagger-ui"></div>
<script src="swagger-ui-bundle.js"></script>
<script src="swagger-initializer.js"></script>
</body>
</html>
"#;

const INITIALIZER_JS: &str = r##"window.ui = SwaggerUIBundle({
  url: new URL("../openapi.json", document.baseURI).href,
  dom_id: "#swagger-ui",
  deepLinking: true,
});
"##;

const BUNDLE_JS_GZ: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/swagger-ui-bundle.js.gz"));
const CSS_GZ: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/swagger-ui.css.gz"));

pub fn router() -> Router<AppState> {
    let document = ApiDoc::openapi();
    Router::new()
        .route("/openapi.json", get(move || std::future::ready(Json(document.clone()))))
        // `docs/`, relative: from `/docs` and from a prefixed `/api/docs` alike.
        .route("/docs", get(|| async { Redirect::to("docs/") }))
        .route("/docs/", get(|| async { page("text/html; charset=utf-8", INDEX_HTML) }))
        .route("/docs/index.html", get(|| async { page("text/html; charset=utf-8", INDEX_HTML) }))
        .route("/docs/swagger-initializer.js", get(|| async { page("text/javascript; charset=utf-8", INITIALIZER_JS) }))
        .route(
            "/docs/swagger-ui-bundle.js",
            get(|headers: HeaderMap| async move { gzipped(&headers, "text/javascript; charset=utf-8", BUNDLE_JS_GZ) }),
        )
        .route(
            "/docs/swagger-ui.css",
            get(|headers: HeaderMap| async move { gzipped(&headers, "text/css; charset=utf-8", CSS_GZ) }),
        )
}

fn page(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// The stored gzip bytes as they are when the client takes gzip (every browser), else unpacked.
fn gzipped(request: &HeaderMap, content_type: &'static str, gzip: &'static [u8]) -> Response {
    let vary = (header::VARY, HeaderValue::from_static("accept-encoding"));
    if accepts_gzip(request) {
        return (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
                (header::CONTENT_ENCODING, HeaderValue::from_static("gzip")),
                vary,
            ],
            gzip,
        )
            .into_response();
    }
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(gzip).read_to_end(&mut plain).expect("build.rs wrote valid gzip");
    ([(header::CONTENT_TYPE, HeaderValue::from_static(content_type)), vary], plain).into_response()
}

/// `gzip` (or `*`) among the codings of Accept-Encoding with a weight above zero.
fn accepts_gzip(request: &HeaderMap) -> bool {
    request
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let refused =
                parts.any(|param| param.strip_prefix("q=").is_some_and(|q| q.parse::<f32>().is_ok_and(|q| q <= 0.0)));
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

#[cfg(test)]
mod tests {
    use super::{ApiDoc, accepts_gzip};
    use axum::http::{HeaderMap, HeaderValue, header};
    use serde_json::Value;
    use utoipa::OpenApi;

    fn document() -> Value {
        serde_json::to_value(ApiDoc::openapi()).expect("the document serializes")
    }

    fn references<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    found.push(target);
                }
                map.values().for_each(|value| references(value, found));
            }
            Value::Array(items) => items.iter().for_each(|value| references(value, found)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves() {
        let document = document();
        let mut found = Vec::new();
        references(&document, &mut found);
        assert!(found.len() > 20, "{found:?}");
        let dangling: Vec<&str> = found
            .into_iter()
            .filter(|target| target.strip_prefix('#').is_none_or(|pointer| document.pointer(pointer).is_none()))
            .collect();
        assert!(dangling.is_empty(), "references to nothing: {dangling:?}");
    }

    /// utoipa leaves out an empty description, which OpenAPI requires of every response.
    #[test]
    fn every_operation_documents_its_errors_with_the_error_body() {
        let document = document();
        for (path, item) in document["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("a path item") {
                for (status, response) in operation["responses"].as_object().expect("responses") {
                    let response = match response["$ref"].as_str() {
                        Some(target) => document.pointer(&target[1..]).expect("resolves"),
                        None => response,
                    };
                    let what = format!("{method} {path} {status}");
                    assert!(response["description"].as_str().is_some_and(|d| !d.is_empty()), "{what}: no description");
                    let schema = &response["content"]["application/json"]["schema"]["$ref"];
                    if status.starts_with('4') || (status.starts_with('5') && !path.ends_with("readyz")) {
                        assert_eq!(schema, "#/components/schemas/ErrorBody", "{what}");
                    }
                }
                let statuses: Vec<&String> = operation["responses"].as_object().expect("responses").keys().collect();
                if operation.get("security").is_some() {
                    assert!(statuses.iter().any(|status| *status == "401"), "{method} {path} takes a token: 401");
                }
                if operation.get("requestBody").is_some() {
                    for status in ["400", "413", "422"] {
                        assert!(statuses.iter().any(|s| *s == status), "{method} {path} reads a body: {status}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_chat_documents_its_stream_next_to_its_json_answer() {
        let document = document();
        let ok = &document["paths"]["/api/{user_id}/chat"]["post"]["responses"]["200"]["content"];
        assert_eq!(ok["application/json"]["schema"]["$ref"], "#/components/schemas/ChatResponse");
        assert_eq!(ok["text/event-stream"]["schema"]["$ref"], "#/components/schemas/ChatEvent");
        let kinds: Vec<&str> = document["components"]["schemas"]["ChatEvent"]["oneOf"]
            .as_array()
            .expect("ChatEvent is one of its kinds")
            .iter()
            .filter_map(|kind| kind["properties"]["type"]["enum"][0].as_str())
            .collect();
        assert_eq!(kinds, ["started", "text_delta", "tool_call", "tool_result", "done", "error"]);
    }

    #[test]
    fn gzip_is_sent_only_to_a_client_that_takes_it() {
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(value));
            accepts_gzip(&headers)
        };
        assert!(with("gzip, deflate, br, zstd"));
        assert!(with("br;q=1.0, GZIP;q=0.5"));
        assert!(with("*"));
        assert!(!with("br"));
        assert!(!with("gzip;q=0, br"));
        assert!(!with("identity"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
