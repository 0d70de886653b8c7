//! `/mcp`: the six task tools for external agents over the Model Context Protocol
//! (streamable HTTP, rmcp). Same tool definitions and the same `tools::execute` as the chat;
//! every request needs the same bearer token as the REST API and acts for that user only.

use crate::{
    agent::{clock::Clock, tools},
    auth::AuthUser,
    error::ApiError,
    routes::MAX_BODY_BYTES,
    state::AppState,
    store::changes::Origin,
};
use axum::{
    Router,
    extract::{Request, State},
    middleware::{self, Next},
    response::Response,
};
use rmcp::{
    ErrorData as McpError, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, InitializeResult,
        ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
    },
    service::RequestContext,
    transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::never::NeverSessionManager,
    },
};
use serde_json::Value;
use std::{sync::Arc, time::Duration};

#[derive(Debug, Clone)]
pub struct TaskTools {
    state: AppState,
}

/// The chat's tool definitions, in MCP's shape.
fn mcp_tools() -> Vec<Tool> {
    tools::definitions()
        .into_iter()
        .filter_map(|definition| {
            let function = definition.get("function")?;
            let name = function.get("name")?.as_str()?.to_owned();
            let description = function.get("description")?.as_str()?.to_owned();
            let Value::Object(schema) = function.get("parameters")?.clone() else { return None };
            Some(Tool::new(name, description, Arc::new(schema)))
        })
        .collect()
}

impl ServerHandler for TaskTools {
    fn get_info(&self) -> ServerConfig {
        InitializeResult::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("todo-chatbot", env!("CARGO_PKG_VERSION")))
            .with_instructions("Manage the signed-in user's todo tasks: add, list, complete, delete, update, undo.")
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(mcp_tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        // Put there by `require_bearer` below, from the token of this very HTTP request.
        let user = context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<AuthUser>())
            .cloned()
            .ok_or_else(|| McpError::invalid_request("not authenticated", None))?;
        let arguments = Value::Object(request.arguments.unwrap_or_default()).to_string();
        // Each call is its own batch: `undo_last_change` over MCP reverts the newest call's change.
        // MCP has no browser to name a time zone: dates are read in UTC.
        let clock = Clock::utc();
        let caller = tools::Caller {
            pool: &self.state.pool,
            owner: user.id,
            origin: Origin { conversation: None, tool_call_id: None, batch: uuid::Uuid::new_v4() },
            undo_window: self.state.chat_limits.undo_window,
            clock: &clock,
        };
        let result = match tools::execute(&caller, &request.name, &arguments).await {
            Ok(value) => {
                let mut result = CallToolResult::success(vec![ContentBlock::text(value.to_string())]);
                result.structured_content = Some(value);
                result
            }
            Err(tools::ToolError::UnknownTool(name)) => {
                return Err(McpError::invalid_params(format!("unknown tool {name:?}"), None));
            }
            Err(tools::ToolError::Database(error)) => {
                tracing::error!(%error, "mcp tool failed on the database");
                return Err(McpError::internal_error("the database failed", None));
            }
            // Bad arguments or an unknown task: an error result the agent can read and fix.
            Err(error) => {
                let value = tools::failure(&error);
                let mut result = CallToolResult::error(vec![ContentBlock::text(value.to_string())]);
                result.structured_content = Some(value);
                result
            }
        };
        tracing::info!(tool = %request.name, user_id = %user.id, "mcp tool ran");
        Ok(result.into())
    }
}

/// Rejects requests without a valid bearer token before MCP sees them, and hands the
/// verified user to the tools. The body is read here, up to the REST API's limit, because
/// rmcp buffers whatever it is given: `DefaultBodyLimit` only binds axum's own extractors.
async fn require_bearer(State(state): State<AppState>, request: Request, next: Next) -> Result<Response, ApiError> {
    let (mut parts, body) = request.into_parts();
    let user = <AuthUser as axum::extract::FromRequestParts<AppState>>::from_request_parts(&mut parts, &state).await?;
    parts.extensions.insert(user);
    // A read can also fail when the client hangs up mid-body; nobody is left to read the
    // answer then, so every failure here is answered as the one a client can cause: too large.
    let body =
        axum::body::to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| ApiError::PayloadTooLarge(MAX_BODY_BYTES))?;
    Ok(next.run(Request::from_parts(parts, axum::body::Body::from(body))).await)
}

/// `/mcp` (and `/api/mcp`, reachable through the web server's proxy), with the REST API's
/// body limit and request timeout: a tool call is one database statement or two, like a
/// REST request.
pub fn router(state: AppState, request_timeout: Duration) -> Router<AppState> {
    let tools = TaskTools { state: state.clone() };
    // Host validation guards unauthenticated local servers against DNS rebinding; here every
    // request must carry a bearer token, which a rebinding page cannot attach.
    // Stateless: no `Mcp-Session-Id`, every POST is answered on its own from its bearer token and
    // the database, so any replica behind a Service can take any request of a client's session.
    // The tools need nothing a session would hold, and nothing pushes to the client unasked.
    let config = StreamableHttpServerConfig::default()
        .disable_allowed_hosts()
        .with_legacy_session_mode(false)
        .with_json_response(true);
    let service =
        StreamableHttpService::new(move || Ok(tools.clone()), Arc::new(NeverSessionManager::default()), config);
    Router::new()
        .nest_service("/mcp", service.clone())
        .nest_service("/api/mcp", service)
        .layer(middleware::from_fn_with_state(state, require_bearer))
        .layer(middleware::from_fn_with_state(request_timeout, crate::routes::time_limit))
}
