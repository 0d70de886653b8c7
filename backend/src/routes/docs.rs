//! `/openapi.json`, generated from the handlers and the `api-types` schemas, and the
//! interactive docs at `/docs` (Swagger UI, vendored in the binary: nothing is downloaded,
//! at build time or in the browser).

use super::{auth, chat, health, tasks};
use crate::state::AppState;
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
    modifiers(&BearerAuth),
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

pub fn router() -> Router<AppState> {
    Router::new().merge(SwaggerUi::new("/docs").url("/openapi.json", ApiDoc::openapi()))
}
