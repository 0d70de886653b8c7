//! Every call the app makes to the backend, through the web server's `/api` proxy, typed by
//! the shared `api-types` crate: a path or a body is written here and nowhere else.

use super::json::{self, BrowserJson};
use crate::chat_log::EventStream;
use api_types::{
    AuthResponse, ChangePasswordRequest, ChatEvent, ChatMessage, ChatRequest, ChatResponse, CompleteRequest,
    ConversationSummary, ErrorBody, JsonReader, NewTask, ServiceInfo, SignInRequest, SignUpRequest, Task, TaskPage,
    TaskPatch, TaskQuery,
};
use gloo_net::http::{Request, RequestBuilder, Response};
use serde::{Serialize, de::DeserializeOwned};
use wasm_bindgen::JsCast;

/// Why a call did not give the expected answer.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// 401: the token is missing, expired or revoked (or, for sign-in, the credentials are wrong).
    Unauthorized(ErrorBody),
    /// Any other error status, with the API's error body.
    Status { status: u16, body: ErrorBody },
    /// No answer at all, or one that is not the contract's shape.
    Network(String),
}

impl ApiError {
    /// The error of an answer with this status and body.
    pub fn from_status(status: u16, body: ErrorBody) -> Self {
        if status == 401 { ApiError::Unauthorized(body) } else { ApiError::Status { status, body } }
    }

    /// A sentence to show.
    pub fn message(&self) -> String {
        match self {
            ApiError::Unauthorized(body) => body.message.clone(),
            ApiError::Status { body, .. } if !body.fields.is_empty() => "Please correct the highlighted fields.".into(),
            ApiError::Status { body, .. } => body.message.clone(),
            ApiError::Network(detail) => format!("The server could not be reached ({detail}). Try again."),
        }
    }

    /// The HTTP status of an error answer, if there was an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Unauthorized(_) => Some(401),
            ApiError::Status { status, .. } => Some(*status),
            ApiError::Network(_) => None,
        }
    }

    /// The message the API gave for one field of the request, for showing next to its input.
    pub fn field(&self, name: &str) -> Option<String> {
        let ApiError::Status { body, .. } = self else { return None };
        let messages: Vec<&str> = body
            .fields
            .iter()
            .filter(|error| error.field.strip_prefix(name).is_some_and(|rest| rest.is_empty() || rest.starts_with('[')))
            .map(|error| error.message.as_str())
            .collect();
        (!messages.is_empty()).then(|| messages.join("; "))
    }
}

/// Who is calling: the signed-in user's id (the `{user_id}` of every route) and token.
#[derive(Debug, Clone, PartialEq)]
pub struct Credentials {
    pub user_id: String,
    pub token: String,
}

impl From<&AuthResponse> for Credentials {
    fn from(session: &AuthResponse) -> Self {
        Self { user_id: session.user.id.clone(), token: session.token.clone() }
    }
}

fn authorized(request: RequestBuilder, credentials: &Credentials) -> RequestBuilder {
    request.header("Authorization", &format!("Bearer {}", credentials.token))
}

/// `request` with `body` as its JSON, as gloo-net's `json` would send it but written by the
/// browser (app/json.rs).
fn with_json<T: Serialize + ?Sized>(request: RequestBuilder, body: &T) -> Result<Request, gloo_net::Error> {
    with_body(request, json::write(body))
}

fn with_body(request: RequestBuilder, body: Result<js_sys::JsString, String>) -> Result<Request, gloo_net::Error> {
    request.header("Content-Type", "application/json").body(body.map_err(gloo_net::Error::GlooError)?)
}

fn user_path(credentials: &Credentials, rest: &str) -> String {
    format!("/api/{}/{rest}", credentials.user_id)
}

async fn send(request: Result<gloo_net::http::Request, gloo_net::Error>) -> Result<Response, ApiError> {
    let response = request
        .map_err(|error| ApiError::Network(error.to_string()))?
        .send()
        .await
        .map_err(|error| ApiError::Network(error.to_string()))?;
    if response.ok() {
        return Ok(response);
    }
    let status = response.status();
    // The proxy and the backend always answer with ErrorBody; anything else is reported as is.
    let body = match response.text().await.ok().and_then(|text| BrowserJson.read::<ErrorBody>(&text).ok()) {
        Some(body) => body,
        None => ErrorBody {
            error: "http_error".into(),
            message: format!("The server answered {status} {}.", response.status_text()),
            fields: Vec::new(),
        },
    };
    Err(ApiError::from_status(status, body))
}

async fn json<T: DeserializeOwned>(request: Result<gloo_net::http::Request, gloo_net::Error>) -> Result<T, ApiError> {
    decode(&text(request).await?)
}

/// The body of a successful answer. Not generic, unlike `json`: the waiting is compiled once,
/// and only the decoding once per type.
async fn text(request: Result<gloo_net::http::Request, gloo_net::Error>) -> Result<String, ApiError> {
    send(request).await?.text().await.map_err(|error| unexpected(error.to_string()))
}

fn decode<T: DeserializeOwned>(text: &str) -> Result<T, ApiError> {
    BrowserJson.read(text).map_err(unexpected)
}

fn unexpected(detail: String) -> ApiError {
    ApiError::Network(format!("unexpected answer: {detail}"))
}

pub async fn sign_up(request: &SignUpRequest) -> Result<AuthResponse, ApiError> {
    json(with_json(Request::post("/api/auth/sign-up"), request)).await
}

pub async fn sign_in(request: &SignInRequest) -> Result<AuthResponse, ApiError> {
    json(with_json(Request::post("/api/auth/sign-in"), request)).await
}

/// Ends this session on the server: its token stops working everywhere it was copied to.
pub async fn sign_out(credentials: &Credentials) -> Result<(), ApiError> {
    send(authorized(Request::post("/api/auth/sign-out"), credentials).build()).await?;
    Ok(())
}

/// Ends every session of the account, on every device.
pub async fn sign_out_everywhere(credentials: &Credentials) -> Result<(), ApiError> {
    send(authorized(Request::post("/api/auth/sign-out-everywhere"), credentials).build()).await?;
    Ok(())
}

/// Changes the password; the answer is a new session, since every earlier one has ended.
pub async fn change_password(
    credentials: &Credentials,
    request: &ChangePasswordRequest,
) -> Result<AuthResponse, ApiError> {
    json(with_json(authorized(Request::post("/api/auth/password"), credentials), request)).await
}

/// Whether the session still works. The app shows nothing of the `User` it answers with, so
/// the body is not decoded (a decoder per response type is what the app's size is made of).
pub async fn me(credentials: &Credentials) -> Result<(), ApiError> {
    send(authorized(Request::get("/api/auth/me"), credentials).build()).await?;
    Ok(())
}

pub async fn info() -> Result<ServiceInfo, ApiError> {
    json(Request::get("/api/info").build()).await
}

/// `TaskQuery` as query pairs, named by its own serde attributes so the names stay the contract's,
/// in the order of its fields; a number as JSON writes it.
fn query_pairs(query: &TaskQuery) -> Vec<(String, String)> {
    let Ok(fields) = query.serialize(&serde_wasm_bindgen::Serializer::json_compatible()) else { return Vec::new() };
    js_sys::Object::entries(&fields.unchecked_into())
        .iter()
        .filter_map(|entry| {
            let entry: js_sys::Array = entry.unchecked_into();
            let (name, value) = (entry.get(0).as_string()?, entry.get(1));
            if value.is_null() {
                return None;
            }
            let value = value.as_string().or_else(|| js_sys::JSON::stringify(&value).ok().map(String::from))?;
            Some((name, value))
        })
        .collect()
}

pub async fn list_tasks(credentials: &Credentials, query: &TaskQuery) -> Result<TaskPage, ApiError> {
    let pairs = query_pairs(query);
    let request = Request::get(&user_path(credentials, "tasks"))
        .query(pairs.iter().map(|(name, value)| (name.as_str(), value.as_str())));
    json(authorized(request, credentials).build()).await
}

pub async fn create_task(credentials: &Credentials, task: &NewTask) -> Result<Task, ApiError> {
    json(with_json(authorized(Request::post(&user_path(credentials, "tasks")), credentials), task)).await
}

pub async fn update_task(credentials: &Credentials, id: i64, patch: &TaskPatch) -> Result<Task, ApiError> {
    json(with_json(authorized(Request::patch(&user_path(credentials, &format!("tasks/{id}"))), credentials), patch))
        .await
}

pub async fn set_completed(credentials: &Credentials, id: i64, completed: bool) -> Result<Task, ApiError> {
    let path = user_path(credentials, &format!("tasks/{id}/complete"));
    json(with_json(authorized(Request::patch(&path), credentials), &CompleteRequest { completed: Some(completed) }))
        .await
}

pub async fn delete_task(credentials: &Credentials, id: i64) -> Result<(), ApiError> {
    send(authorized(Request::delete(&user_path(credentials, &format!("tasks/{id}"))), credentials).build()).await?;
    Ok(())
}

/// Sends a chat message and hands each event of the streamed answer to `on_event` as it
/// arrives, up to its last (`done` or `error`). A refusal before the stream begins (401, 409,
/// 422, 429) is an error as for any call; an answer that breaks off before its last event is a
/// `Network` error. A backend that answers with JSON instead gives a single `done`.
pub async fn chat(
    credentials: &Credentials,
    request: &ChatRequest,
    mut on_event: impl FnMut(ChatEvent),
) -> Result<(), ApiError> {
    let request = with_json(
        authorized(Request::post(&user_path(credentials, "chat")), credentials).header("Accept", "text/event-stream"),
        request,
    );
    let response = send(request).await?;
    let streamed = response.headers().get("content-type").is_some_and(|kind| kind.starts_with("text/event-stream"));
    if !streamed {
        let text = response.text().await.map_err(|error| unexpected(error.to_string()))?;
        on_event(ChatEvent::Done { response: decode::<ChatResponse>(&text)? });
        return Ok(());
    }
    let body = response.body().ok_or_else(|| unexpected("a stream without a body".to_owned()))?;
    let mut reader = super::browser::BodyReader::new(&body).map_err(ApiError::Network)?;
    let mut events = EventStream::new(BrowserJson);
    loop {
        let chunk = reader.next().await.map_err(ApiError::Network)?;
        let arrived = match &chunk {
            Some(bytes) => events.push(bytes),
            None => events.finish().map(|last| last.into_iter().collect()),
        }
        .map_err(unexpected)?;
        for event in arrived {
            let last = event.is_last();
            on_event(event);
            if last {
                return Ok(());
            }
        }
        if chunk.is_none() {
            return Err(ApiError::Network("the answer broke off before its end".to_owned()));
        }
    }
}

pub async fn conversations(credentials: &Credentials) -> Result<Vec<ConversationSummary>, ApiError> {
    json(authorized(Request::get(&user_path(credentials, "conversations")), credentials).build()).await
}

pub async fn messages(credentials: &Credentials, conversation_id: &str) -> Result<Vec<ChatMessage>, ApiError> {
    let path = user_path(credentials, &format!("conversations/{conversation_id}/messages"));
    json(authorized(Request::get(&path), credentials).build()).await
}

/// Reverts one change a chat tool made; a 409's message says which task changed since. The
/// answer (an `UndoResponse`, what was reverted) is not decoded: the chip only says "undone".
pub async fn undo_change(credentials: &Credentials, change_id: i64) -> Result<(), ApiError> {
    let path = user_path(credentials, &format!("changes/{change_id}/undo"));
    send(authorized(Request::post(&path), credentials).build()).await?;
    Ok(())
}

pub async fn delete_conversation(credentials: &Credentials, conversation_id: &str) -> Result<(), ApiError> {
    let path = user_path(credentials, &format!("conversations/{conversation_id}"));
    send(authorized(Request::delete(&path), credentials).build()).await?;
    Ok(())
}
