//! `/openapi.json`, generated from the handlers and the `api-types` schemas, and the
//! interactive docs at `/docs` (Swagger UI, vendored in the binary: nothing is downloaded,
//! at build time or in the browser).

use super::{auth, chat, health, responses, tasks};
use crate::state::AppState;
use api_types::{ErrorBody, Priority, SortOrder, StatusFilter, TaskSort};
use axum::Router;
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};
use utoipa_swagger_ui::SwaggerUi;

#[derive(OpenApi)]
#[openapi(
    info(title = "todo-chatbot API", description = "Accounts, tasks and the chat agent of todo-chatbot."),
    paths(
        health::liveness, health::readiness,
        auth::sign_up, auth::sign_in, auth::me, auth::refresh,
        auth::sign_out, auth::sign_out_everywhere, auth::change_password,
        tasks::list, tasks::create, tasks::get, tasks::replace, tasks::update, tasks::delete, tasks::complete,
        chat::chat, chat::list, chat::messages, chat::delete, chat::info,
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

pub fn router() -> Router<AppState> {
    Router::new().merge(SwaggerUi::new("/docs").url("/openapi.json", ApiDoc::openapi()))
}

#[cfg(test)]
mod tests {
    use super::ApiDoc;
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
}
