//! The assistant: one conversation on screen, earlier ones a click away. Answers stream in:
//! the text grows as it arrives, and each tool shows as a chip under it, running until its
//! result is in; a tool that changed tasks tells the task list to reload.

use super::{api, browser, state::AppState, time, typed_into};
use crate::chat_log::{Applied, Chip, Turn, turns_from};
use api_types::{AssistantMode, ChatRequest, ConversationSummary, ServiceInfo};
use dioxus::prelude::*;

const SUGGESTIONS: [&str; 4] =
    ["Add task pay bills tomorrow high priority #home", "Show all my tasks", "Show pending tasks", "Help"];

const BUSY_ELSEWHERE: &str = "The assistant is still answering an earlier message in this conversation, \
    probably sent from another tab or device. Your message was not sent: it is back in the box, send it again \
    once that answer has arrived.";

/// A tool call's arguments as compact JSON, for the chip's tooltip, written by the browser (as
/// every JSON the app writes: `api_types::BrowserJson`).
fn arguments_text(arguments: &serde_json::Value) -> String {
    js_sys::JSON::stringify(&value_to_js(arguments)).map(String::from).unwrap_or_default()
}

/// A JSON value as the browser's own, built by hand: the one map-shaped thing the app writes,
/// so serde-wasm-bindgen's map serializer is not linked for it (BrowserJson writes the rest). Every number the app holds
/// came from `JSON.parse`, so each one is a JavaScript number again.
fn value_to_js(value: &serde_json::Value) -> wasm_bindgen::JsValue {
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

#[component]
pub fn ChatPanel() -> Element {
    let app = use_context::<AppState>();
    let mut conversation = use_signal(|| None::<String>);
    let mut turns = use_signal(Vec::<Turn>::new);
    let mut input = use_signal(String::new);
    let mut pending = use_signal(|| false);
    let mut opening = use_signal(|| false);
    let mut error = use_signal(|| None::<String>);
    let mut history_version = use_signal(|| 0_u64);

    // What answers (the model, or the offline assistant): read once, with the first list of
    // conversations, by the same resource (each use_resource is its own copy of Dioxus' code).
    let mut info = use_signal(|| None::<ServiceInfo>);
    let mut history = use_signal(|| None::<Result<Vec<ConversationSummary>, String>>);
    let _history_loader = use_resource(move || {
        let _ = history_version();
        super::boxed(async move {
            if info.peek().is_none()
                && let Ok(answer) = api::info().await
            {
                info.set(Some(answer));
            }
            let Some(credentials) = app.credentials() else { return };
            history.set(Some(api::conversations(&credentials).await.map_err(|failure| app.failed(&failure))));
        })
    });

    // Keep the newest message in view, also while an answer grows.
    use_effect(move || {
        let _ = (turns.read(), pending());
        browser::scroll_to_bottom("chat-log");
    });

    // A turn that failed after it began: say why, then show the conversation as stored (or, if
    // that cannot be read, what arrived of the answer).
    let after_failure = move |failure: api::ApiError| async move {
        let message = app.failed(&failure);
        error.set(Some(format!("The assistant did not answer: {message}")));
        let stored = match (app.credentials(), conversation.peek().clone()) {
            (Some(credentials), Some(id)) => api::messages(&credentials, &id).await.ok(),
            _ => None,
        };
        match stored {
            Some(messages) => turns.set(turns_from(messages)),
            None => {
                let mut turns = turns.write();
                if let Some(last) = turns.last_mut() {
                    last.streaming = false;
                }
                if turns.last().is_some_and(|last| !last.from_user && last.is_empty()) {
                    turns.pop();
                }
            }
        }
    };

    let mut send = move |text: String| {
        let text = text.trim().to_owned();
        if text.is_empty() || pending() {
            return;
        }
        let Some(credentials) = app.credentials() else { return };
        error.set(None);
        input.set(String::new());
        turns.write().push(Turn::said(text.clone()));
        turns.write().push(Turn::streaming());
        pending.set(true);
        let request = ChatRequest { conversation_id: conversation(), message: text.clone(), time_zone: time::zone() };
        spawn(async move {
            let mut started = false;
            let mut failed = None;
            let outcome = api::chat(&credentials, &request, |event| {
                let applied = match turns.write().last_mut() {
                    Some(turn) if turn.streaming => turn.apply(event),
                    _ => return,
                };
                match applied {
                    Applied::Started { conversation_id } | Applied::Done { conversation_id } => {
                        started = true;
                        conversation.set(Some(conversation_id));
                    }
                    Applied::ToolRan { changed_tasks: true } => app.tasks_changed_elsewhere(),
                    Applied::ToolRan { changed_tasks: false } | Applied::Grew => {}
                    Applied::Failed { status, error } => failed = Some(api::ApiError::from_status(status, error)),
                }
            })
            .await;
            // A failure once the turn began: the message is stored, so it stays, and the
            // conversation is shown as it was stored, with whatever the assistant did before it
            // failed. (One await of `after_failure`, so that its future is compiled in once.)
            let failed_after_start = match (outcome, failed) {
                (Ok(()), failed) => failed,
                (Err(failure), _) if started => Some(failure),
                (Err(failure), _) => {
                    turns.write().pop();
                    if failure.status() == Some(409) {
                        // Another turn (from another tab or device) is running on this
                        // conversation and nothing was stored: the message leaves the log.
                        turns.write().pop();
                        error.set(Some(BUSY_ELSEWHERE.to_owned()));
                    } else {
                        let message = app.failed(&failure);
                        if let Some(last) = turns.write().last_mut() {
                            last.failed = true;
                        }
                        error.set(Some(format!("The assistant did not answer: {message}")));
                    }
                    // Give the words back so nothing typed is lost.
                    if input.peek().is_empty() {
                        input.set(text);
                    }
                    None
                }
            };
            if let Some(failure) = failed_after_start {
                after_failure(failure).await;
            }
            if started {
                // The list is ordered by last activity, and a new conversation joins it.
                history_version += 1;
            }
            pending.set(false);
            browser::focus("chat-input");
        });
    };

    let mut open = move |id: String| {
        let Some(credentials) = app.credentials() else { return };
        if pending() {
            return;
        }
        error.set(None);
        opening.set(true);
        spawn(async move {
            match api::messages(&credentials, &id).await {
                Ok(messages) => {
                    turns.set(turns_from(messages));
                    conversation.set(Some(id));
                }
                Err(failure) => {
                    error.set(Some(format!("That conversation could not be opened: {}", app.failed(&failure))))
                }
            }
            opening.set(false);
            browser::focus("chat-input");
        });
    };

    // Undo one chip's change: the chip says so, the task list reloads; a refusal (the task
    // changed since, already undone, too old) is shown as the API words it.
    let mut undo = move |(turn, call, change_id): (usize, usize, i64)| {
        let Some(credentials) = app.credentials() else { return };
        error.set(None);
        spawn(async move {
            match api::undo_change(&credentials, change_id).await {
                Ok(()) => {
                    if let Some(Chip::Ran(record)) =
                        turns.write().get_mut(turn).and_then(|turn| turn.chips.get_mut(call))
                    {
                        record.undone = true;
                    }
                    app.tasks_changed_elsewhere();
                }
                Err(failure) => error.set(Some(format!("Could not undo: {}", app.failed(&failure)))),
            }
        });
    };

    let mut start_new = move || {
        conversation.set(None);
        turns.set(Vec::new());
        error.set(None);
        browser::focus("chat-input");
    };

    let forget = move |id: String| {
        let Some(credentials) = app.credentials() else { return };
        spawn(async move {
            match api::delete_conversation(&credentials, &id).await {
                Ok(()) => {
                    if conversation.peek().as_deref() == Some(id.as_str()) {
                        conversation.set(None);
                        turns.set(Vec::new());
                    }
                    history_version += 1;
                }
                Err(failure) => {
                    error.set(Some(format!("That conversation could not be deleted: {}", app.failed(&failure))))
                }
            }
        });
    };

    let offline = matches!(&*info.read(), Some(info) if info.assistant == AssistantMode::Offline);
    let model = match &*info.read() {
        Some(info) if info.assistant == AssistantMode::Model => info.model.clone(),
        _ => None,
    };
    let current = conversation();

    rsx! {
        section { class: "panel chat-panel", aria_labelledby: "chat-heading",
            div { class: "panel-head",
                h2 { id: "chat-heading", "Assistant" }
                if let Some(model) = model {
                    span { class: "model", title: "The model answering", "{model}" }
                }
                button {
                    id: "new-conversation", r#type: "button", class: "secondary small", disabled: pending(),
                    onclick: move |_| start_new(),
                    "New conversation"
                }
            }
            if offline {
                p { class: "offline-note", id: "offline-note",
                    strong { "Offline assistant. " }
                    "No AI model is configured, so a built-in assistant answers. It understands commands such as "
                    q { "add task buy milk tomorrow #home" } ", " q { "show pending tasks" } ", " q { "complete task 3" }
                    " and " q { "help" } "."
                }
            }
            details { class: "history",
                summary { "Previous conversations" }
                match &*history.read() {
                    None => rsx! { p { class: "muted", "Loading…" } },
                    Some(Err(message)) => rsx! {
                        p { class: "muted", "Could not load them: {message} " }
                        button { r#type: "button", class: "link", onclick: move |_| history_version += 1, "Try again" }
                    },
                    Some(Ok(list)) if list.is_empty() => rsx! { p { class: "muted", "None yet: your conversations will be listed here." } },
                    Some(Ok(list)) => rsx! {
                        ul { class: "conversation-list",
                            for summary in list.iter().cloned() {
                                li { key: "{summary.id}", class: if current.as_deref() == Some(summary.id.as_str()) { "active" } else { "" },
                                    button {
                                        r#type: "button", class: "conversation",
                                        aria_current: if current.as_deref() == Some(summary.id.as_str()) { "true" } else { "false" },
                                        onclick: {
                                            let id = summary.id.clone();
                                            move |_| open(id.clone())
                                        },
                                        span { class: "conversation-title", "{summary.title}" }
                                        span { class: "when", "{time::ago(summary.updated_at)}" }
                                    }
                                    button {
                                        r#type: "button", class: "icon", aria_label: "Delete conversation “{summary.title}”",
                                        onclick: {
                                            let id = summary.id.clone();
                                            move |_| forget(id.clone())
                                        },
                                        "×"
                                    }
                                }
                            }
                        }
                    },
                }
            }
            div { id: "chat-log", class: "chat-log", role: "log", aria_live: "polite", aria_busy: "{pending() || opening()}",
                if opening() {
                    p { class: "muted", "Opening the conversation…" }
                } else if turns.read().is_empty() {
                    div { class: "chat-empty",
                        p { "Ask me to add, find, complete or delete tasks." }
                        div { class: "suggestions",
                            for suggestion in SUGGESTIONS {
                                button { r#type: "button", class: "suggestion", onclick: move |_| send(suggestion.to_owned()), "{suggestion}" }
                            }
                        }
                    }
                }
                for (index, turn) in turns.read().iter().enumerate() {
                    div { key: "{index}", class: if turn.from_user { "message user" } else if turn.streaming { "message assistant streaming" } else { "message assistant" },
                        span { class: "visually-hidden", {if turn.from_user { "You said:" } else { "Assistant:" }} }
                        if !turn.chips.is_empty() {
                            ul { class: "chips", aria_label: "Actions taken",
                                for (position, chip) in turn.chips.iter().enumerate() {
                                    match chip {
                                        Chip::Running { .. } => rsx! {
                                            li { class: "chip running", aria_busy: "true", title: arguments_text(chip.arguments()), "{chip.summary()}" }
                                        },
                                        Chip::Ran(call) => rsx! {
                                            li { class: if !call.succeeded() { "chip failed" } else if call.undone { "chip undone" } else { "chip" }, title: arguments_text(&call.arguments),
                                                "{call.summary()}"
                                                if call.undone {
                                                    span { class: "undone-note", " (undone)" }
                                                } else if let Some(change_id) = call.change_id {
                                                    button {
                                                        r#type: "button", class: "link undo", aria_label: "Undo: {call.summary()}",
                                                        onclick: move |_| undo((index, position, change_id)),
                                                        "Undo"
                                                    }
                                                }
                                            }
                                        },
                                    }
                                }
                            }
                        }
                        if !turn.text.is_empty() {
                            div { class: "bubble", "{turn.text}" }
                        } else if turn.streaming {
                            div { class: "bubble typing",
                                span { class: "visually-hidden", "The assistant is answering…" }
                                span { class: "dot" } span { class: "dot" } span { class: "dot" }
                            }
                        }
                        if turn.failed {
                            small { class: "not-sent", "Not delivered" }
                        }
                    }
                }
            }
            if let Some(message) = error() {
                p { class: "chat-error", role: "alert", "{message}" }
            }
            form {
                class: "chat-input",
                onsubmit: move |e: FormEvent| { e.prevent_default(); send(input()); },
                label { r#for: "chat-input", class: "visually-hidden", "Message the assistant" }
                textarea {
                    id: "chat-input", rows: "2", placeholder: "Message the assistant… (Enter sends, Shift+Enter for a new line)",
                    value: "{input}", oninput: typed_into(input),
                    onkeydown: move |e: KeyboardEvent| {
                        if e.key() == Key::Enter && !e.modifiers().contains(Modifiers::SHIFT) {
                            e.prevent_default();
                            send(input());
                        }
                    },
                }
                button { r#type: "submit", class: "primary", disabled: pending() || input().trim().is_empty(),
                    {if pending() { "Sending…" } else { "Send" }}
                }
            }
        }
    }
}
