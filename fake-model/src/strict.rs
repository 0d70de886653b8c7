//! The request rules: what OpenAI and llama-cpp-python's server both accept. Each rule names
//! the field the way OpenAI's error `param` does, so a failing test points at the culprit.

use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// Why a request is refused, and which field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub message: String,
    pub param: Option<String>,
}

impl Invalid {
    pub fn new(message: impl Into<String>, param: Option<String>) -> Self {
        Self { message: message.into(), param }
    }
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.param {
            Some(param) => write!(f, "{param}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

fn invalid(param: impl Into<String>, message: impl Into<String>) -> Invalid {
    Invalid::new(message, Some(param.into()))
}

/// The roles both servers take. OpenAI's newer `developer` and the legacy `function` are left
/// out: llama.cpp's server refuses them, and the backend has no reason to send them.
const ROLES: [&str; 4] = ["system", "user", "assistant", "tool"];

/// Checks a chat-completions request body.
pub fn check(body: &Value) -> Result<(), Invalid> {
    let Some(body) = body.as_object() else {
        return Err(Invalid::new("the body must be a JSON object", None));
    };
    match body.get("model") {
        Some(Value::String(model)) if !model.trim().is_empty() => {}
        _ => return Err(invalid("model", "must be a non-empty string")),
    }
    let has_tools = check_tools(body)?;
    check_tool_choice(body, has_tools)?;
    match body.get("temperature") {
        None => {}
        Some(Value::Number(number)) if number.as_f64().is_some_and(|t| (0.0..=2.0).contains(&t)) => {}
        Some(other) => return Err(invalid("temperature", format!("must be a number from 0 to 2, got {other}"))),
    }
    let streams = match body.get("stream") {
        None | Some(Value::Bool(false)) => false,
        Some(Value::Bool(true)) => true,
        Some(other) => return Err(invalid("stream", format!("must be a boolean, got {other}"))),
    };
    match body.get("stream_options") {
        None | Some(Value::Null) => {}
        Some(_) if !streams => {
            return Err(invalid("stream_options", "is only allowed when stream is true"));
        }
        Some(Value::Object(options)) if options.get("include_usage").is_none_or(Value::is_boolean) => {}
        Some(other) => {
            return Err(invalid("stream_options", format!("must be {{\"include_usage\": bool}}, got {other}")));
        }
    }
    check_messages(body.get("messages"))
}

fn check_messages(messages: Option<&Value>) -> Result<(), Invalid> {
    let Some(Value::Array(messages)) = messages else {
        return Err(invalid("messages", "must be an array"));
    };
    if messages.is_empty() {
        return Err(invalid("messages", "must not be empty"));
    }
    // Tool calls of the latest assistant message that no tool message has answered yet, and
    // the index of that message.
    let mut pending: Vec<String> = Vec::new();
    let mut asked_at = 0;
    for (index, message) in messages.iter().enumerate() {
        let at = |field: &str| format!("messages[{index}].{field}");
        let Some(message) = message.as_object() else {
            return Err(invalid(format!("messages[{index}]"), "must be an object"));
        };
        let role = match message.get("role") {
            Some(Value::String(role)) if ROLES.contains(&role.as_str()) => role.as_str(),
            Some(other) => return Err(invalid(at("role"), format!("{other} is not one of {ROLES:?}"))),
            None => return Err(invalid(at("role"), "is required")),
        };
        // A string everywhere: llama.cpp's pydantic schema refuses `null` and a missing
        // field even on an assistant message that only carries tool calls.
        match message.get("content") {
            Some(Value::String(_)) => {}
            Some(other) => return Err(invalid(at("content"), format!("must be a string, got {other}"))),
            None => return Err(invalid(at("content"), "is required (a string; \"\" when empty)")),
        }
        if role == "tool" {
            let id = match message.get("tool_call_id") {
                Some(Value::String(id)) if !id.is_empty() => id,
                _ => return Err(invalid(at("tool_call_id"), "a tool message needs the id of the call it answers")),
            };
            let Some(position) = pending.iter().position(|call| call == id) else {
                return Err(invalid(
                    at("tool_call_id"),
                    format!("{id:?} answers no tool call of the assistant message just before it"),
                ));
            };
            pending.remove(position);
            continue;
        }
        if !pending.is_empty() {
            return Err(unanswered(asked_at, &pending));
        }
        if message.contains_key("tool_call_id") {
            return Err(invalid(at("tool_call_id"), format!("only tool messages carry one, not {role}")));
        }
        match message.get("tool_calls") {
            None => {}
            Some(_) if role != "assistant" => {
                return Err(invalid(at("tool_calls"), format!("only assistant messages carry them, not {role}")));
            }
            Some(calls) => {
                pending = check_tool_calls(calls, &at("tool_calls"))?;
                asked_at = index;
            }
        }
    }
    if !pending.is_empty() {
        return Err(unanswered(asked_at, &pending));
    }
    Ok(())
}

fn unanswered(index: usize, pending: &[String]) -> Invalid {
    invalid(
        format!("messages[{index}].tool_calls"),
        format!(
            "an assistant message with tool_calls must be followed by tool messages answering each \
             tool_call_id; not answered: {pending:?}"
        ),
    )
}

/// The ids of well-formed tool calls.
fn check_tool_calls(calls: &Value, at: &str) -> Result<Vec<String>, Invalid> {
    let Some(calls) = calls.as_array() else { return Err(invalid(at, "must be an array")) };
    if calls.is_empty() {
        return Err(invalid(at, "must not be empty when present"));
    }
    let mut ids = Vec::new();
    for (index, call) in calls.iter().enumerate() {
        let at = format!("{at}[{index}]");
        let id = match call.get("id") {
            Some(Value::String(id)) if !id.is_empty() => id.clone(),
            _ => return Err(invalid(format!("{at}.id"), "must be a non-empty string")),
        };
        if ids.contains(&id) {
            return Err(invalid(format!("{at}.id"), format!("{id:?} is used twice")));
        }
        if call.get("type") != Some(&Value::String("function".to_owned())) {
            return Err(invalid(format!("{at}.type"), "must be \"function\""));
        }
        match call.get("function").and_then(Value::as_object) {
            Some(function)
                if function.get("name").and_then(Value::as_str).is_some_and(|name| !name.is_empty())
                    && function.get("arguments").is_some_and(Value::is_string) => {}
            _ => {
                return Err(invalid(
                    format!("{at}.function"),
                    "must be {\"name\": a non-empty string, \"arguments\": a JSON text as a string}",
                ));
            }
        }
        ids.push(id);
    }
    Ok(ids)
}

/// Whether the request declares tools (after checking their shape).
fn check_tools(body: &Map<String, Value>) -> Result<bool, Invalid> {
    let tools = match body.get("tools") {
        None => return Ok(false),
        Some(Value::Array(tools)) => tools,
        Some(_) => return Err(invalid("tools", "must be an array")),
    };
    let mut names = BTreeSet::new();
    for (index, tool) in tools.iter().enumerate() {
        let at = |field: &str| format!("tools[{index}].{field}");
        if tool.get("type") != Some(&Value::String("function".to_owned())) {
            return Err(invalid(at("type"), "must be \"function\""));
        }
        let Some(function) = tool.get("function").and_then(Value::as_object) else {
            return Err(invalid(at("function"), "must be an object"));
        };
        let name = function.get("name").and_then(Value::as_str).unwrap_or_default();
        // OpenAI's rule for function names.
        let valid_name =
            (1..=64).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid_name {
            return Err(invalid(at("function.name"), format!("{name:?} must match ^[a-zA-Z0-9_-]{{1,64}}$")));
        }
        if !names.insert(name) {
            return Err(invalid(at("function.name"), format!("{name:?} is declared twice")));
        }
        if function.get("description").is_some_and(|description| !description.is_string()) {
            return Err(invalid(at("function.description"), "must be a string"));
        }
        match function.get("parameters") {
            None => {}
            Some(Value::Object(schema)) if schema.get("type") == Some(&Value::String("object".to_owned())) => {}
            Some(_) => return Err(invalid(at("function.parameters"), "must be a JSON Schema of type \"object\"")),
        }
    }
    Ok(!tools.is_empty())
}

fn check_tool_choice(body: &Map<String, Value>, has_tools: bool) -> Result<(), Invalid> {
    let Some(choice) = body.get("tool_choice") else { return Ok(()) };
    if !has_tools {
        return Err(invalid("tool_choice", "is only allowed when tools are specified"));
    }
    let named =
        || choice.get("type") == Some(&Value::String("function".to_owned())) && choice["function"]["name"].is_string();
    match choice {
        Value::String(mode) if ["none", "auto", "required"].contains(&mode.as_str()) => Ok(()),
        Value::Object(_) if named() => Ok(()),
        other => Err(invalid("tool_choice", format!("{other} is not none, auto, required or a named function"))),
    }
}
