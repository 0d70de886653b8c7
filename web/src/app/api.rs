//! Every call the app makes to the backend, through the web server's `/api` proxy, typed by
//! the shared `api-types` crate: a path or a body is written here and nowhere else.

use crate::chat_log::EventStream;
use api_types::{
    AuthResponse, BrowserJson, ChangePasswordRequest, ChatEvent, ChatMessage, ChatRequest, ChatResponse,
    CompleteRequest, ConversationSummary, ErrorBody, JsonReader, NewTask, ServiceInfo, SignInRequest, SignUpRequest,
    Task, TaskPage, TaskPatch, TaskQuery,
};
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

fn authorized(request: Request, credentials: &Credentials) -> Request {
    request.header("Authorization", &format!("Bearer {}", credentials.token))
}

/// A call about to be made with the browser's `fetch` (what gloo-net's request builder did, for
/// the few things the app asks of it).
struct Request {
    method: &'static str,
    url: String,
    headers: Vec<(&'static str, String)>,
    body: Option<js_sys::JsString>,
}

impl Request {
    fn new(method: &'static str, url: &str) -> Self {
        Self { method, url: url.to_owned(), headers: Vec::new(), body: None }
    }

    fn get(url: &str) -> Self {
        Self::new("GET", url)
    }

    fn post(url: &str) -> Self {
        Self::new("POST", url)
    }

    fn patch(url: &str) -> Self {
        Self::new("PATCH", url)
    }

    fn delete(url: &str) -> Self {
        Self::new("DELETE", url)
    }

    fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }

    /// With `body` as its JSON, written by the browser (`api_types::BrowserJson`).
    fn json<T: Serialize + ?Sized>(self, body: &T) -> Result<Self, ApiError> {
        self.with_body(BrowserJson.write(body))
    }

    fn with_body(mut self, body: Result<js_sys::JsString, String>) -> Result<Self, ApiError> {
        self.body = Some(body.map_err(ApiError::Network)?);
        Ok(self.header("Content-Type", "application/json"))
    }
}

fn user_path(credentials: &Credentials, rest: &str) -> String {
    format!("/api/{}/{rest}", credentials.user_id)
}

/// What the browser threw, as its `toString()` says it ("TypeError: Failed to fetch").
fn thrown(error: wasm_bindgen::JsValue) -> String {
    match error.dyn_ref::<js_sys::Error>() {
        Some(error) => error.to_string().into(),
        None => api_types::json::js_error(&error),
    }
}

async fn fetch(request: Request) -> Result<web_sys::Response, String> {
    let headers = web_sys::Headers::new().map_err(thrown)?;
    for (name, value) in &request.headers {
        headers.set(name, value).map_err(thrown)?;
    }
    let init = web_sys::RequestInit::new();
    init.set_method(request.method);
    init.set_headers(&headers);
    if let Some(body) = &request.body {
        init.set_body(body);
    }
    let window = web_sys::window().ok_or("no window")?;
    let response = wasm_bindgen_futures::JsFuture::from(window.fetch_with_str_and_init(&request.url, &init))
        .await
        .map_err(thrown)?;
    Ok(response.unchecked_into())
}

/// The body of an answer as text.
async fn body_text(response: &web_sys::Response) -> Result<String, String> {
    let promise = response.text().map_err(thrown)?;
    let text = wasm_bindgen_futures::JsFuture::from(promise).await.map_err(thrown)?;
    Ok(text.as_string().unwrap_or_default())
}

async fn send(request: Request) -> Result<web_sys::Response, ApiError> {
    let response = fetch(request).await.map_err(ApiError::Network)?;
    if response.ok() {
        return Ok(response);
    }
    let status = response.status();
    // The proxy and the backend always answer with ErrorBody; anything else is reported as is.
    let body = match body_text(&response).await.ok().and_then(|text| BrowserJson.read::<ErrorBody>(&text).ok()) {
        Some(body) => body,
        None => ErrorBody {
            error: "http_error".into(),
            message: format!("The server answered {status} {}.", response.status_text()),
            fields: Vec::new(),
        },
    };
    Err(ApiError::from_status(status, body))
}

/// The body of a successful answer. Not generic: the waiting is compiled once, and only the
/// decoding (`decode`, in each call's own future) once per type.
async fn text(request: Request) -> Result<String, ApiError> {
    body_text(&send(request).await?).await.map_err(unexpected)
}

fn decode<T: DeserializeOwned>(text: &str) -> Result<T, ApiError> {
    BrowserJson.read(text).map_err(unexpected)
}

fn unexpected(detail: String) -> ApiError {
    ApiError::Network(format!("unexpected answer: {detail}"))
}

pub async fn sign_up(request: &SignUpRequest) -> Result<AuthResponse, ApiError> {
    decode(&text(Request::post("/api/auth/sign-up").json(request)?).await?)
}

pub async fn sign_in(request: &SignInRequest) -> Result<AuthResponse, ApiError> {
    decode(&text(Request::post("/api/auth/sign-in").json(request)?).await?)
}

/// Ends this session on the server: its token stops working everywhere it was copied to.
pub async fn sign_out(credentials: &Credentials) -> Result<(), ApiError> {
    send(authorized(Request::post("/api/auth/sign-out"), credentials)).await?;
    Ok(())
}

/// Ends every session of the account, on every device.
pub async fn sign_out_everywhere(credentials: &Credentials) -> Result<(), ApiError> {
    send(authorized(Request::post("/api/auth/sign-out-everywhere"), credentials)).await?;
    Ok(())
}

/// Changes the password; the answer is a new session, since every earlier one has ended.
pub async fn change_password(
    credentials: &Credentials,
    request: &ChangePasswordRequest,
) -> Result<AuthResponse, ApiError> {
    decode(&text(authorized(Request::post("/api/auth/password"), credentials).json(request)?).await?)
}

/// Whether the session still works. The app shows nothing of the `User` it answers with, so
/// the body is not decoded (a decoder per response type is what the app's size is made of).
pub async fn me(credentials: &Credentials) -> Result<(), ApiError> {
    send(authorized(Request::get("/api/auth/me"), credentials)).await?;
    Ok(())
}

pub async fn info() -> Result<ServiceInfo, ApiError> {
    decode(&text(Request::get("/api/info")).await?)
}

/// `TaskQuery` as a query string (with its `?`, or empty), named by its own serde attributes so
/// the names stay the contract's, in the order of its fields; a number as JSON writes it.
fn query_string(query: &TaskQuery) -> String {
    let (Ok(fields), Ok(pairs)) = (BrowserJson.to_js(query), web_sys::UrlSearchParams::new()) else {
        return String::new();
    };
    for entry in js_sys::Object::entries(&fields.unchecked_into()).iter() {
        let entry: js_sys::Array = entry.unchecked_into();
        let (Some(name), value) = (entry.get(0).as_string(), entry.get(1)) else { continue };
        if value.is_null() {
            continue;
        }
        if let Some(value) = value.as_string().or_else(|| js_sys::JSON::stringify(&value).ok().map(String::from)) {
            pairs.append(&name, &value);
        }
    }
    let pairs = String::from(pairs.to_string());
    if pairs.is_empty() { pairs } else { format!("?{pairs}") }
}

pub async fn list_tasks(credentials: &Credentials, query: &TaskQuery) -> Result<TaskPage, ApiError> {
    let path = format!("{}{}", user_path(credentials, "tasks"), query_string(query));
    decode(&text(authorized(Request::get(&path), credentials)).await?)
}

pub async fn create_task(credentials: &Credentials, task: &NewTask) -> Result<Task, ApiError> {
    decode(&text(authorized(Request::post(&user_path(credentials, "tasks")), credentials).json(task)?).await?)
}

pub async fn update_task(credentials: &Credentials, id: i64, patch: &TaskPatch) -> Result<Task, ApiError> {
    decode(
        &text(authorized(Request::patch(&user_path(credentials, &format!("tasks/{id}"))), credentials).json(patch)?)
            .await?,
    )
}

pub async fn set_completed(credentials: &Credentials, id: i64, completed: bool) -> Result<Task, ApiError> {
    let path = user_path(credentials, &format!("tasks/{id}/complete"));
    decode(
        &text(authorized(Request::patch(&path), credentials).json(&CompleteRequest { completed: Some(completed) })?)
            .await?,
    )
}

pub async fn delete_task(credentials: &Credentials, id: i64) -> Result<(), ApiError> {
    send(authorized(Request::delete(&user_path(credentials, &format!("tasks/{id}"))), credentials)).await?;
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
    let request = authorized(Request::post(&user_path(credentials, "chat")), credentials)
        .header("Accept", "text/event-stream")
        .json(request)?;
    let response = send(request).await?;
    let streamed =
        response.headers().get("content-type").ok().flatten().is_some_and(|kind| kind.starts_with("text/event-stream"));
    if !streamed {
        let text = body_text(&response).await.map_err(unexpected)?;
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
    decode(&text(authorized(Request::get(&user_path(credentials, "conversations")), credentials)).await?)
}

pub async fn messages(credentials: &Credentials, conversation_id: &str) -> Result<Vec<ChatMessage>, ApiError> {
    let path = user_path(credentials, &format!("conversations/{conversation_id}/messages"));
    decode(&text(authorized(Request::get(&path), credentials)).await?)
}

/// Reverts one change a chat tool made; a 409's message says which task changed since. The
/// answer (an `UndoResponse`, what was reverted) is not decoded: the chip only says "undone".
pub async fn undo_change(credentials: &Credentials, change_id: i64) -> Result<(), ApiError> {
    let path = user_path(credentials, &format!("changes/{change_id}/undo"));
    send(authorized(Request::post(&path), credentials)).await?;
    Ok(())
}

pub async fn delete_conversation(credentials: &Credentials, conversation_id: &str) -> Result<(), ApiError> {
    let path = user_path(credentials, &format!("conversations/{conversation_id}"));
    send(authorized(Request::delete(&path), credentials)).await?;
    Ok(())
}
