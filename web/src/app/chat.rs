//! The assistant: one conversation on screen, earlier ones a click away. Every tool the
//! assistant ran shows as a chip under its answer, and tells the task list to reload.

use super::{api, browser, state::AppState, time};
use api_types::{AssistantMode, ChatMessage, ChatRequest, MessageRole, ToolCallRecord};
use dioxus::prelude::*;

const SUGGESTIONS: [&str; 4] =
    ["Add task pay bills tomorrow high priority #home", "Show all my tasks", "Show pending tasks", "Help"];

#[derive(Debug, Clone, PartialEq)]
struct Turn {
    from_user: bool,
    text: String,
    tool_calls: Vec<ToolCallRecord>,
    /// A message of the user's that never reached the assistant.
    failed: bool,
}

/// Stored messages as turns: user and assistant text; tool calls (asked for in assistant
/// messages, answered in `tool` messages) become chips of the next assistant answer.
fn turns_from(messages: Vec<ChatMessage>) -> Vec<Turn> {
    let mut turns = Vec::new();
    let mut chips: Vec<ToolCallRecord> = Vec::new();
    for message in messages {
        let text = message.content.unwrap_or_default();
        match message.role {
            MessageRole::User => {
                if !chips.is_empty() {
                    turns.push(Turn {
                        from_user: false,
                        text: String::new(),
                        tool_calls: std::mem::take(&mut chips),
                        failed: false,
                    });
                }
                turns.push(Turn { from_user: true, text, tool_calls: Vec::new(), failed: false });
            }
            MessageRole::Assistant => {
                chips.extend(message.tool_calls);
                if !text.trim().is_empty() {
                    turns.push(Turn { from_user: false, text, tool_calls: std::mem::take(&mut chips), failed: false });
                }
            }
            MessageRole::Tool => {}
        }
    }
    if !chips.is_empty() {
        turns.push(Turn { from_user: false, text: String::new(), tool_calls: chips, failed: false });
    }
    turns
}

const BUSY_ELSEWHERE: &str = "The assistant is still answering an earlier message in this conversation, \
    probably sent from another tab or device. Your message was not sent: it is back in the box, send it again \
    once that answer has arrived.";

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

    let info = use_resource(api::info);
    let history = use_resource(move || {
        let _ = history_version();
        async move {
            let credentials = app.credentials()?;
            match api::conversations(&credentials).await {
                Ok(list) => Some(Ok(list)),
                Err(failure) => Some(Err(app.failed(&failure))),
            }
        }
    });

    // Keep the newest message in view.
    use_effect(move || {
        let _ = (turns.read().len(), pending());
        browser::scroll_to_bottom("chat-log");
    });

    let mut send = move |text: String| {
        let text = text.trim().to_owned();
        if text.is_empty() || pending() {
            return;
        }
        let Some(credentials) = app.credentials() else { return };
        error.set(None);
        input.set(String::new());
        turns.write().push(Turn { from_user: true, text: text.clone(), tool_calls: Vec::new(), failed: false });
        pending.set(true);
        let request = ChatRequest { conversation_id: conversation(), message: text.clone(), time_zone: time::zone() };
        spawn(async move {
            match api::chat(&credentials, &request).await {
                Ok(answer) => {
                    conversation.set(Some(answer.conversation_id));
                    if answer.tool_calls.iter().any(|call| call.changes_tasks() && call.succeeded()) {
                        app.task_changes_elsewhere();
                    }
                    turns.write().push(Turn {
                        from_user: false,
                        text: answer.response,
                        tool_calls: answer.tool_calls,
                        failed: false,
                    });
                    // The list is ordered by last activity, and a new conversation joins it.
                    history_version += 1;
                }
                Err(failure) => {
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
                }
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
                Ok(_) => {
                    if let Some(record) = turns.write().get_mut(turn).and_then(|turn| turn.tool_calls.get_mut(call)) {
                        record.undone = true;
                    }
                    app.task_changes_elsewhere();
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

    let offline = matches!(&*info.read(), Some(Ok(info)) if info.assistant == AssistantMode::Offline);
    let model = match &*info.read() {
        Some(Ok(info)) if info.assistant == AssistantMode::Model => info.model.clone(),
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
                    None | Some(None) => rsx! { p { class: "muted", "Loading…" } },
                    Some(Some(Err(message))) => rsx! {
                        p { class: "muted", "Could not load them: {message} " }
                        button { r#type: "button", class: "link", onclick: move |_| history_version += 1, "Try again" }
                    },
                    Some(Some(Ok(list))) if list.is_empty() => rsx! { p { class: "muted", "None yet: your conversations will be listed here." } },
                    Some(Some(Ok(list))) => rsx! {
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
                    div { key: "{index}", class: if turn.from_user { "message user" } else { "message assistant" },
                        span { class: "visually-hidden", if turn.from_user { "You said:" } else { "Assistant:" } }
                        if !turn.tool_calls.is_empty() {
                            ul { class: "chips", aria_label: "Actions taken",
                                for (position, call) in turn.tool_calls.iter().enumerate() {
                                    li { class: if !call.succeeded() { "chip failed" } else if call.undone { "chip undone" } else { "chip" }, title: "{call.arguments}",
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
                                }
                            }
                        }
                        if !turn.text.is_empty() {
                            div { class: "bubble", "{turn.text}" }
                        }
                        if turn.failed {
                            small { class: "not-sent", "Not delivered" }
                        }
                    }
                }
                if pending() {
                    div { class: "message assistant pending", aria_label: "The assistant is answering",
                        div { class: "bubble typing", span {} span {} span {} }
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
                    value: "{input}", oninput: move |e| input.set(e.value()),
                    onkeydown: move |e: KeyboardEvent| {
                        if e.key() == Key::Enter && !e.modifiers().contains(Modifiers::SHIFT) {
                            e.prevent_default();
                            send(input());
                        }
                    },
                }
                button { r#type: "submit", class: "primary", disabled: pending() || input().trim().is_empty(),
                    if pending() { "Sending…" } else { "Send" }
                }
            }
        }
    }
}
