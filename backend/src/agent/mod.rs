//! The chat: one turn = load the conversation from PostgreSQL, store the person's message,
//! let the assistant work (a model with tools, or the offline assistant), store every
//! assistant message, tool call and tool result as it happens, answer. Nothing lives in
//! memory between turns, so any replica continues any conversation.

pub mod clock;
pub mod events;
pub mod model;
pub mod offline;
pub mod tools;

use crate::{
    domain::{ConversationTitle, MessageText},
    error::ApiError,
    store::{
        changes::Origin,
        conversations::{self, StoredMessage, StoredToolCall},
    },
};
use api_types::{ChatEvent, ChatResponse, ToolCallRecord};
use clock::Clock;
pub use events::Events;
use model::{ModelClient, ModelError, wire_message};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

const SYSTEM_PROMPT: &str = "You are the assistant of todo-chatbot, a todo app. You manage the user's tasks \
only through the tools add_task, list_tasks, complete_task, delete_task, update_task and undo_last_change. \
When the user asks to undo, call undo_last_change. When the user names \
a task instead of giving its id, call list_tasks first to find it, then act on the right id. Never invent \
task ids. If a tool returns ok=false, explain the problem briefly. Keep answers short and friendly. \
For due_at, pass the user's own words for the date and time (\"tomorrow at 5pm\", \"next friday\", \
\"in 3 days\", \"Dec 24 at 17:00\"): the tool reads them in the user's time zone. YYYY-MM-DD (the end of that \
day) and RFC 3339 timestamps work too.";

/// The system prompt with the person's date, time and zone, so the model can reason about "Friday".
fn system_prompt(clock: &Clock) -> String {
    format!(
        "{SYSTEM_PROMPT} Now it is {} in the user's time zone, {}.",
        clock.now().format("%A %Y-%m-%d %H:%M"),
        clock.zone_name()
    )
}

/// Who answers the chat.
#[derive(Debug, Clone)]
pub enum Assistant {
    Model(Box<ModelClient>),
    Offline,
}

#[derive(Debug, Clone, Copy)]
pub struct ChatLimits {
    /// Most tool rounds (model calls that ask for tools) in one turn.
    pub max_tool_rounds: u32,
    /// Most stored messages replayed to the model.
    pub history_messages: usize,
    /// Most tool calls run from one model reply; the rest are answered "not run".
    pub max_tool_calls_per_reply: usize,
    /// Most destructive tool calls (deletions and undos: `tools::is_destructive`) run in one
    /// turn; the rest are answered "not run".
    pub max_destructive_calls_per_turn: u32,
    /// Longest a turn may hold its conversation: the chat's timeout, after which the turn is
    /// cancelled anyway.
    pub turn_lease: std::time::Duration,
    /// Turns one user may start per minute (a bucket of this many, refilled over a minute).
    pub rate_per_minute: std::num::NonZeroU32,
    /// How long a tool's change stays undoable (the chat's and MCP's).
    pub undo_window: std::time::Duration,
}

/// One turn's tools: for whom, in which conversation, and the turn as the batch "undo" reverts.
#[derive(Debug, Clone, Copy)]
struct TurnScope {
    owner: Uuid,
    conversation: Uuid,
    turn: Uuid,
    undo_window: std::time::Duration,
}

/// The lease one turn holds on its conversation (see `conversations::begin_turn`).
pub(crate) struct TurnLease {
    pool: PgPool,
    conversation: Uuid,
    turn: Uuid,
    held: bool,
}

impl TurnLease {
    /// 409 while another turn runs on the conversation: queueing the second would hold a
    /// request (and its client) for as long as the model takes, and the person sees the first
    /// answer before asking again anyway.
    pub(crate) async fn take(
        pool: &PgPool,
        owner: Uuid,
        conversation: Uuid,
        lease: std::time::Duration,
    ) -> Result<Self, ApiError> {
        match conversations::begin_turn(pool, owner, conversation, lease).await? {
            Some(turn) => Ok(Self { pool: pool.clone(), conversation, turn, held: true }),
            None if conversations::get(pool, owner, conversation).await?.is_some() => Err(ApiError::Conflict(
                "the assistant is still answering the previous message in this conversation; wait for its answer",
            )),
            None => Err(ApiError::NotFound(format!("conversation {conversation} not found"))),
        }
    }

    /// Gives the lease back before the turn answers, so that the next message can follow at once.
    pub(crate) async fn release(mut self) {
        self.held = false;
        if let Err(error) = conversations::end_turn(&self.pool, self.conversation, self.turn).await {
            // The lease expires on its own; until then the conversation answers 409.
            tracing::warn!(%error, conversation = %self.conversation, "could not end the chat turn");
        }
    }
}

impl Drop for TurnLease {
    /// A turn cancelled mid-way (the client left, the chat timeout fired) never reaches
    /// `release`: give the lease back from a task of its own.
    fn drop(&mut self) {
        if !self.held {
            return;
        }
        let (pool, conversation, turn) = (self.pool.clone(), self.conversation, self.turn);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(error) = conversations::end_turn(&pool, conversation, turn).await {
                    tracing::warn!(%error, %conversation, "could not end a cancelled chat turn");
                }
            });
        }
    }
}

/// The messages to replay: at most `limit` of the latest, starting at a user message so that
/// no tool result is cut from the call that asked for it, and with any tool call whose result
/// never got stored (a crash mid-turn) left out, since the API rejects an unanswered call.
pub fn replayable(history: &[StoredMessage], limit: usize) -> Vec<StoredMessage> {
    let mut start = history.len().saturating_sub(limit);
    while start < history.len() && !matches!(history[start], StoredMessage::User { .. }) {
        start += 1;
    }
    let window = &history[start..];
    let answered: std::collections::HashSet<&str> = window
        .iter()
        .filter_map(|message| match message {
            StoredMessage::Tool { tool_call_id, .. } => Some(tool_call_id.as_str()),
            _ => None,
        })
        .collect();
    window
        .iter()
        .filter_map(|message| match message {
            StoredMessage::Assistant { content, tool_calls } if !tool_calls.is_empty() => {
                let kept: Vec<StoredToolCall> =
                    tool_calls.iter().filter(|call| answered.contains(call.id.as_str())).cloned().collect();
                if kept.is_empty() && content.is_none() {
                    None
                } else {
                    Some(StoredMessage::Assistant { content: content.clone(), tool_calls: kept })
                }
            }
            other => Some(other.clone()),
        })
        .collect()
}

/// A call's arguments as JSON, or as the string they are when the model sent no valid JSON.
fn arguments_value(arguments: &str) -> Value {
    serde_json::from_str(arguments).unwrap_or_else(|_| Value::String(arguments.to_owned()))
}

/// Appends one message of the turn. The conversation may be deleted while the turn runs (the
/// lease does not stop that, on purpose: deleting is the person's call); the turn then ends as
/// a 404 instead of a database error.
async fn record(pool: &PgPool, conversation: Uuid, message: &StoredMessage) -> Result<(), ApiError> {
    match conversations::append(pool, conversation, message).await {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(error)) if error.is_foreign_key_violation() => Err(ApiError::NotFound(format!(
            "conversation {conversation} was deleted while the assistant was answering; \
             task changes made before that stay"
        ))),
        Err(error) => Err(error.into()),
    }
}

/// Stores the assistant's final text of a turn.
async fn answer(pool: &PgPool, conversation: Uuid, text: &str) -> Result<(), ApiError> {
    let message = StoredMessage::Assistant { content: Some(text.to_owned()), tool_calls: vec![] };
    record(pool, conversation, &message).await?;
    Ok(())
}

/// Runs one tool, stores its result, and returns the record for the response.
async fn run_tool(
    pool: &PgPool,
    scope: TurnScope,
    clock: &Clock,
    call: &StoredToolCall,
    events: &Events,
) -> Result<ToolCallRecord, ApiError> {
    events.tool_call(&call.id, &call.name, &call.arguments);
    let caller = tools::Caller {
        pool,
        owner: scope.owner,
        origin: Origin {
            conversation: Some(scope.conversation),
            tool_call_id: Some(call.id.clone()),
            batch: scope.turn,
        },
        undo_window: scope.undo_window,
        clock,
    };
    let result = match tools::execute(&caller, &call.name, &call.arguments).await {
        Ok(value) => value,
        Err(tools::ToolError::Database(error)) => return Err(error.into()),
        Err(error) => tools::failure(&error),
    };
    tracing::info!(tool = %call.name, ok = result["ok"].as_bool().unwrap_or(false), "tool ran");
    store_result(pool, scope.conversation, call, result, events).await
}

/// Stores a call's result right after the call, and returns the record for the response.
async fn store_result(
    pool: &PgPool,
    conversation: Uuid,
    call: &StoredToolCall,
    result: Value,
    events: &Events,
) -> Result<ToolCallRecord, ApiError> {
    let stored =
        StoredMessage::Tool { tool_call_id: call.id.clone(), name: call.name.clone(), content: result.to_string() };
    record(pool, conversation, &stored).await?;
    let change_id = result.get("change_id").and_then(Value::as_i64);
    let record = ToolCallRecord {
        name: call.name.clone(),
        arguments: arguments_value(&call.arguments),
        result,
        change_id,
        undone: false,
    };
    events.tool_result(&call.id, &record);
    Ok(record)
}

/// Answers a call without running it, stores that answer, and returns the record.
async fn refuse_tool(
    pool: &PgPool,
    conversation: Uuid,
    call: &StoredToolCall,
    reason: &str,
    events: &Events,
) -> Result<ToolCallRecord, ApiError> {
    tracing::info!(tool = %call.name, reason, "tool call refused");
    events.tool_call(&call.id, &call.name, &call.arguments);
    store_result(pool, conversation, call, json!({"ok": false, "error": reason}), events).await
}

/// A turn that holds its conversation: every check that answers a plain HTTP error (404, 409)
/// has passed, so a streamed response may begin. Dropped unrun, it gives the conversation back.
#[derive(Debug)]
pub struct Turn {
    lease: TurnLease,
    owner: Uuid,
}

impl std::fmt::Debug for TurnLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnLease").field("conversation", &self.conversation).field("turn", &self.turn).finish()
    }
}

/// The assistant's text so far: the sentences of the answer, each sent word by word as it is
/// said, so that the streamed deltas concatenate to the stored answer.
struct Said<'a> {
    sentences: Vec<String>,
    events: &'a Events,
}

impl Said<'_> {
    fn say(&mut self, sentence: String) {
        if !self.sentences.is_empty() {
            self.events.words("\n");
        }
        self.events.words(&sentence);
        self.sentences.push(sentence);
    }
}

impl Assistant {
    /// One chat turn for `owner`, whose dates are read on `clock`, answered at its end.
    pub async fn turn(
        &self,
        pool: &PgPool,
        owner: Uuid,
        conversation_id: Option<Uuid>,
        message: &MessageText,
        clock: &Clock,
        limits: ChatLimits,
    ) -> Result<ChatResponse, ApiError> {
        let turn = Self::begin(pool, owner, conversation_id, message, limits).await?;
        self.run(turn, pool, message, clock, limits, &Events::none()).await
    }

    /// Takes the conversation (a new one when `conversation_id` is `None`) for one turn.
    pub async fn begin(
        pool: &PgPool,
        owner: Uuid,
        conversation_id: Option<Uuid>,
        message: &MessageText,
        limits: ChatLimits,
    ) -> Result<Turn, ApiError> {
        let conversation = match conversation_id {
            Some(id) => id,
            None => conversations::create(pool, owner, &ConversationTitle::of(message)).await?.id,
        };
        // Everything after runs alone on this conversation: a second turn would store its
        // messages between this turn's tool call and its result, which no model accepts.
        let lease = TurnLease::take(pool, owner, conversation, limits.turn_lease).await?;
        Ok(Turn { lease, owner })
    }

    /// Runs a begun turn, telling `events` what happens as it happens, and gives the
    /// conversation back. The person's message is stored before the assistant runs, so it
    /// survives a model failure.
    pub async fn run(
        &self,
        turn: Turn,
        pool: &PgPool,
        message: &MessageText,
        clock: &Clock,
        limits: ChatLimits,
        events: &Events,
    ) -> Result<ChatResponse, ApiError> {
        let Turn { lease, owner } = turn;
        let scope =
            TurnScope { owner, conversation: lease.conversation, turn: lease.turn, undo_window: limits.undo_window };
        let result = self.turn_alone(pool, scope, message, clock, limits, events).await;
        lease.release().await;
        result
    }

    async fn turn_alone(
        &self,
        pool: &PgPool,
        scope: TurnScope,
        message: &MessageText,
        clock: &Clock,
        limits: ChatLimits,
        events: &Events,
    ) -> Result<ChatResponse, ApiError> {
        let conversation = scope.conversation;
        let history: Vec<StoredMessage> =
            conversations::messages(pool, conversation).await?.iter().map(|row| row.message()).collect();
        let user_message = StoredMessage::User { content: message.as_str().to_owned() };
        record(pool, conversation, &user_message).await?;
        events.send(ChatEvent::Started { conversation_id: conversation.to_string() });

        let (response, tool_calls) = match self {
            Assistant::Offline => Self::offline_turn(pool, scope, clock, message.as_str(), limits, events).await?,
            Assistant::Model(model) => {
                let mut transcript = replayable(&history, limits.history_messages);
                transcript.push(user_message);
                Self::model_turn(model, pool, scope, clock, transcript, limits, events).await?
            }
        };
        Ok(ChatResponse { conversation_id: conversation.to_string(), response, tool_calls })
    }

    async fn offline_turn(
        pool: &PgPool,
        scope: TurnScope,
        clock: &Clock,
        message: &str,
        limits: ChatLimits,
        events: &Events,
    ) -> Result<(String, Vec<ToolCallRecord>), ApiError> {
        let conversation = scope.conversation;
        let mut said = Said { sentences: Vec::new(), events };
        let mut records = Vec::new();
        let mut destructive = 0;
        for step in offline::plan_steps(message, clock.now()) {
            match step {
                offline::Plan::Say(text) => said.say(text),
                offline::Plan::Call { name, .. }
                    if tools::is_destructive(name) && destructive >= limits.max_destructive_calls_per_turn =>
                {
                    said.say(format!(
                        "I did not run {name}: at most {} deletions and undos run per message; ask again in a new message.",
                        limits.max_destructive_calls_per_turn
                    ));
                }
                offline::Plan::Call { name, arguments } => {
                    destructive += u32::from(tools::is_destructive(name));
                    // Stored exactly like a model's tool call, so a model configured later can
                    // replay this conversation.
                    let call = StoredToolCall {
                        id: format!("offline_{}", Uuid::new_v4().simple()),
                        name: name.to_owned(),
                        arguments: arguments.to_string(),
                    };
                    let asked = StoredMessage::Assistant { content: None, tool_calls: vec![call.clone()] };
                    record(pool, conversation, &asked).await?;
                    let record = run_tool(pool, scope, clock, &call, events).await?;
                    said.say(offline::describe(name, &arguments, &record.result));
                    records.push(record);
                }
            }
        }
        let text = said.sentences.join("\n");
        answer(pool, conversation, &text).await?;
        Ok((text, records))
    }

    async fn model_turn(
        model: &ModelClient,
        pool: &PgPool,
        scope: TurnScope,
        clock: &Clock,
        mut transcript: Vec<StoredMessage>,
        limits: ChatLimits,
        events: &Events,
    ) -> Result<(String, Vec<ToolCallRecord>), ApiError> {
        let conversation = scope.conversation;
        let definitions = tools::definitions();
        let mut records = Vec::new();
        let mut destructive = 0;
        let system = system_prompt(clock);
        for round in 0..=limits.max_tool_rounds {
            let mut messages = vec![json!({"role": "system", "content": system})];
            messages.extend(transcript.iter().map(wire_message));
            let reply = model
                .complete(&messages, &definitions, events)
                .await
                .map_err(|error| model_failure(error, &records))?;
            if reply.tool_calls.is_empty() {
                let text = reply.content.unwrap_or_else(|| {
                    // The model said nothing: the answer stored is ours, so stream it too.
                    events.text("Done.");
                    "Done.".to_owned()
                });
                answer(pool, conversation, &text).await?;
                return Ok((text, records));
            }
            if round == limits.max_tool_rounds {
                // Out of rounds: these calls are neither run nor stored (they would be unanswered).
                break;
            }
            let asked =
                StoredMessage::Assistant { content: reply.content.clone(), tool_calls: reply.tool_calls.clone() };
            record(pool, conversation, &asked).await?;
            transcript.push(asked);
            for (index, call) in reply.tool_calls.iter().enumerate() {
                // Over a cap, the call is answered (the model API needs every call answered)
                // with why it did not run, so the model can tell the person or ask again.
                let refusal = if index >= limits.max_tool_calls_per_reply {
                    Some(format!(
                        "not run: at most {} tool calls run per reply; call the rest in your next reply",
                        limits.max_tool_calls_per_reply
                    ))
                } else if tools::is_destructive(&call.name) && destructive >= limits.max_destructive_calls_per_turn {
                    Some(format!(
                        "not run: at most {} deletions and undos run per message; tell the person what \
                         was not done and ask them to confirm in a new message",
                        limits.max_destructive_calls_per_turn
                    ))
                } else {
                    None
                };
                let record = match refusal {
                    Some(reason) => refuse_tool(pool, conversation, call, &reason, events).await?,
                    None => {
                        destructive += u32::from(tools::is_destructive(&call.name));
                        run_tool(pool, scope, clock, call, events).await?
                    }
                };
                transcript.push(StoredMessage::Tool {
                    tool_call_id: call.id.clone(),
                    name: call.name.clone(),
                    content: record.result.to_string(),
                });
                records.push(record);
            }
        }
        let text = format!(
            "I stopped after {} rounds of tool calls without finishing. What I did so far is saved; \
             please rephrase or split the request.",
            limits.max_tool_rounds
        );
        events.words(&text);
        answer(pool, conversation, &text).await?;
        Ok((text, records))
    }
}

/// A model failure as an HTTP error that also says what tools already did this turn: that
/// work is saved and must not look lost.
fn model_failure(error: ModelError, done: &[ToolCallRecord]) -> ApiError {
    let done_note = if done.is_empty() {
        String::new()
    } else {
        let names: Vec<&str> = done.iter().map(|record| record.name.as_str()).collect();
        format!(" Already done and saved this turn: {}.", names.join(", "))
    };
    match error {
        ModelError::Unavailable(..) => {
            ApiError::ModelUnavailable(format!("{error}. Your message is saved.{done_note}"))
        }
        ModelError::Failed(_) => ApiError::ModelFailed(format!("{error}. Your message is saved.{done_note}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(text: &str) -> StoredMessage {
        StoredMessage::User { content: text.to_owned() }
    }

    fn asks(id: &str) -> StoredMessage {
        StoredMessage::Assistant {
            content: None,
            tool_calls: vec![StoredToolCall { id: id.to_owned(), name: "list_tasks".into(), arguments: "{}".into() }],
        }
    }

    fn result(id: &str) -> StoredMessage {
        StoredMessage::Tool { tool_call_id: id.to_owned(), name: "list_tasks".into(), content: "{}".into() }
    }

    fn says(text: &str) -> StoredMessage {
        StoredMessage::Assistant { content: Some(text.to_owned()), tool_calls: vec![] }
    }

    #[test]
    fn the_window_starts_at_a_user_message_never_inside_a_tool_exchange() {
        let history =
            vec![user("a"), asks("1"), result("1"), says("done a"), user("b"), asks("2"), result("2"), says("done b")];
        // The last 5 would start at `says("done a")`... no: at index 3; it must move to `user("b")`.
        assert_eq!(replayable(&history, 5), history[4..].to_vec());
        assert_eq!(replayable(&history, 3), Vec::<StoredMessage>::new(), "no user message in the window");
        assert_eq!(replayable(&history, 100), history);
    }

    #[test]
    fn unanswered_tool_calls_are_not_replayed() {
        let history = vec![user("a"), asks("1")];
        assert_eq!(replayable(&history, 10), vec![user("a")]);
    }
}
