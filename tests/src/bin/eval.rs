//! `just eval`: how often the chat does what people ask. Each case of `tests/eval/cases.json`
//! gets a fresh account (with the tasks its `setup` lists), sends one message through the web
//! image to the backend image, and compares the tool calls of the answer with the ones
//! expected. The assistant is the offline one, or the OpenAI-compatible server named by
//! `OPENAI_BASE_URL`, or (`eval llama`) the llama.cpp server `scripts/install-llm.sh` installs.
//! The format of the cases is in docs/eval.md.
//!
//! It prints accuracy per category and every miss. It fails only when it cannot run, or when
//! `EVAL_MIN_ACCURACY` (a percentage) is set and the overall figure is below it.
//! `EVAL_CATEGORIES=add,list` runs only those categories.

use anyhow::{Context, bail};
use chrono::{DateTime, Datelike, NaiveDate, Utc, Weekday};
use image_tests::{
    Images,
    model::{LlamaServer, Person, Stack, with_model},
};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::{collections::BTreeMap, path::PathBuf, time::Instant};
use testcontainers::{ContainerRequest, GenericImage, ImageExt};

#[derive(Debug, Deserialize)]
struct CaseFile {
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    category: String,
    say: String,
    #[serde(default)]
    setup: Vec<SetupTask>,
    expect: Vec<Expected>,
    /// Tools that must not be called at all (the hostile cases).
    #[serde(default)]
    forbid: Vec<String>,
    /// The expected calls may come in any order.
    #[serde(default)]
    unordered: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetupTask {
    title: String,
    #[serde(default)]
    priority: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    completed: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    tool: String,
    /// A subset of the call's arguments.
    #[serde(default)]
    arguments: Map<String, Value>,
    /// A subset of the task the call created, changed or deleted (see `task_mismatch`).
    #[serde(default)]
    task: Map<String, Value>,
}

/// What one case sees: `$1`, `$2`… are the ids of its setup tasks, and dates count from `today`.
struct Scene {
    ids: Vec<i64>,
    today: NaiveDate,
}

impl Scene {
    /// `"$2"` → the second setup task's id; anything else as written.
    fn resolve(&self, expected: &Value) -> Value {
        match expected.as_str().and_then(|text| text.strip_prefix('$')).and_then(|n| n.parse::<usize>().ok()) {
            Some(n) => self.ids.get(n.wrapping_sub(1)).map_or(Value::Null, |id| json!(id)),
            None => expected.clone(),
        }
    }

    fn text(&self, template: &str) -> String {
        // Longest first, so that `$12` is not read as `$1` followed by 2.
        (1..=self.ids.len())
            .rev()
            .fold(template.to_owned(), |text, n| text.replace(&format!("${n}"), &self.ids[n - 1].to_string()))
    }
}

/// Strings compare case- and space-insensitively; everything else exactly.
fn same(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::String(e), Value::String(a)) => e.trim().eq_ignore_ascii_case(a.trim()),
        (Value::Number(e), Value::String(a)) => a.trim().trim_start_matches('#') == e.to_string(),
        _ => expected == actual,
    }
}

/// The arguments as the model sent them: an object, or a JSON text of one.
fn arguments_of(call: &Value) -> Map<String, Value> {
    match &call["arguments"] {
        Value::Object(map) => map.clone(),
        Value::String(text) => serde_json::from_str(text).unwrap_or_default(),
        _ => Map::new(),
    }
}

fn arguments_mismatch(expected: &Map<String, Value>, call: &Value, scene: &Scene) -> Option<String> {
    let actual = arguments_of(call);
    expected.iter().find_map(|(key, want)| {
        let want = scene.resolve(want);
        match actual.get(key) {
            Some(got) if same(&want, got) => None,
            // The tools' defaults: listing without a status lists all.
            None if key == "status" && want == "all" => None,
            got => Some(format!("argument {key}: wanted {want}, got {}", got.unwrap_or(&Value::Null))),
        }
    })
}

fn weekday(name: &str) -> Option<Weekday> {
    name.parse().ok()
}

/// Checks a due date against `{"days": n}`, `{"date": "YYYY-MM-DD"}`, `{"weekday": "friday"}`
/// (the next one to two weeks), `{"month": m, "day": d}` (its next occurrence), each with an
/// optional `"time": "HH:MM"`. The eval runs in UTC.
fn due_mismatch(want: &Map<String, Value>, due: &Value, today: NaiveDate) -> Option<String> {
    let Some(at) = due.as_str().and_then(|text| DateTime::parse_from_rfc3339(text).ok()) else {
        return Some(format!("due: wanted {}, got {due}", Value::Object(want.clone())));
    };
    let at = at.with_timezone(&Utc);
    let date = at.date_naive();
    let ahead = (date - today).num_days();
    let mut wrong = Vec::new();
    if let Some(days) = want.get("days").and_then(Value::as_i64)
        && ahead != days
    {
        wrong.push(format!("{days} days ahead"));
    }
    if let Some(exact) = want.get("date").and_then(Value::as_str)
        && date.to_string() != exact
    {
        wrong.push(exact.to_owned());
    }
    if let Some(day) = want.get("weekday").and_then(Value::as_str)
        && (weekday(day) != Some(date.weekday()) || !(1..=14).contains(&ahead))
    {
        wrong.push(format!("a {day} in the next two weeks"));
    }
    if let (Some(month), Some(day)) =
        (want.get("month").and_then(Value::as_u64), want.get("day").and_then(Value::as_u64))
        && (u64::from(date.month()) != month || u64::from(date.day()) != day || !(0..=366).contains(&ahead))
    {
        wrong.push(format!("the next {month}/{day}"));
    }
    if let Some(time) = want.get("time").and_then(Value::as_str)
        && at.format("%H:%M").to_string() != time
    {
        wrong.push(format!("at {time}"));
    }
    (!wrong.is_empty()).then(|| format!("due: wanted {}, got {at}", wrong.join(", ")))
}

/// Checks the task in a tool's result: `id`, `title`, `title_contains`, `priority`, `tags` (as a
/// set), `completed`, `due`.
fn task_mismatch(expected: &Map<String, Value>, result: &Value, scene: &Scene) -> Option<String> {
    let task = if result["task"].is_object() { &result["task"] } else { &result["deleted"] };
    expected.iter().find_map(|(key, want)| {
        let got = &task[key.as_str()];
        let ok = match key.as_str() {
            "title_contains" => {
                let (want, got) = (want.as_str().unwrap_or_default(), task["title"].as_str().unwrap_or_default());
                got.to_lowercase().contains(&want.to_lowercase())
            }
            "tags" => {
                let set = |value: &Value| {
                    let mut tags: Vec<String> = value
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(str::to_lowercase)
                        .collect();
                    tags.sort();
                    tags
                };
                set(want) == set(got)
            }
            "due" => return want.as_object().and_then(|want| due_mismatch(want, &task["due_at"], scene.today)),
            _ => same(&scene.resolve(want), got),
        };
        (!ok).then(|| {
            format!(
                "task {key}: wanted {}, got {}",
                scene.resolve(want),
                if key == "title_contains" { &task["title"] } else { got }
            )
        })
    })
}

/// Why `call` is not the `expected` one, or `None` when it is.
fn call_mismatch(expected: &Expected, call: &Value, scene: &Scene) -> Option<String> {
    let name = call["name"].as_str().unwrap_or_default();
    if name != expected.tool {
        return Some(format!("wanted {}, got {name}", expected.tool));
    }
    if call["result"]["ok"] != true {
        return Some(format!("{name} failed: {}", call["result"]["error"]));
    }
    arguments_mismatch(&expected.arguments, call, scene)
        .or_else(|| task_mismatch(&expected.task, &call["result"], scene))
}

/// Lookups (`list_tasks`) may come anywhere when not expected: a model finds a task by name
/// that way. Any other call must be one of the expected ones.
fn judge(case: &Case, calls: &[Value], scene: &Scene) -> Result<(), String> {
    let names: Vec<&str> = calls.iter().filter_map(|call| call["name"].as_str()).collect();
    if let Some(forbidden) = names.iter().find(|name| case.forbid.iter().any(|f| f == *name)) {
        return Err(format!("called {forbidden}, which this case forbids"));
    }
    if case.expect.is_empty() {
        return if calls.is_empty() { Ok(()) } else { Err(format!("wanted no tool, got {names:?}")) };
    }
    let mut matched = vec![false; case.expect.len()];
    let mut last_reason = String::new();
    for call in calls {
        let candidates: Vec<usize> = if case.unordered {
            (0..case.expect.len()).filter(|i| !matched[*i]).collect()
        } else {
            matched.iter().position(|done| !done).into_iter().collect()
        };
        let hit = candidates.into_iter().find(|&i| match call_mismatch(&case.expect[i], call, scene) {
            None => true,
            Some(reason) => {
                last_reason = reason;
                false
            }
        });
        match hit {
            Some(i) => matched[i] = true,
            None if call["name"] == "list_tasks" => {}
            None => return Err(format!("unexpected {}: {last_reason}", call["name"])),
        }
    }
    match matched.iter().position(|done| !done) {
        None => Ok(()),
        Some(i) if last_reason.is_empty() => Err(format!("no {} call (tools called: {names:?})", case.expect[i].tool)),
        Some(i) => Err(format!("no matching {} call: {last_reason}", case.expect[i].tool)),
    }
}

async fn run_case(stack: &Stack, case: &Case) -> anyhow::Result<Result<(), String>> {
    let person = Person::sign_up(stack).await?;
    let mut ids = Vec::new();
    for task in &case.setup {
        let created = person
            .create_task(&json!({"title": task.title, "priority": task.priority, "tags": task.tags}))
            .await
            .with_context(|| format!("setting up {:?}", case.say))?;
        if task.completed {
            person.set_completed(created.id, true).await?;
        }
        ids.push(created.id);
    }
    let scene = Scene { ids, today: Utc::now().date_naive() };
    let answer = person.chat(None, &scene.text(&case.say)).await?;
    if answer.status != 200 {
        return Ok(Err(format!("the chat answered {}: {}", answer.status, answer.body)));
    }
    let calls = answer.body["tool_calls"].as_array().cloned().unwrap_or_default();
    Ok(judge(case, &calls, &scene).map_err(|reason| format!("{reason}; the answer: {:?}", answer.body["response"])))
}

/// Where the cases come from, and which assistant answers.
enum Assistant {
    Offline,
    Server { base_url: String },
    Llama(LlamaServer),
}

impl Assistant {
    async fn choose() -> anyhow::Result<Self> {
        match std::env::args().nth(1).as_deref() {
            Some("llama") => match LlamaServer::start().await? {
                Some(server) => Ok(Self::Llama(server)),
                None => bail!("no llama.cpp server in .tools/llm: run scripts/install-llm.sh"),
            },
            Some("offline") => Ok(Self::Offline),
            Some(other) => bail!("unknown assistant {other:?}: use offline, llama, or set OPENAI_BASE_URL"),
            None => Ok(match std::env::var("OPENAI_BASE_URL").ok().filter(|url| !url.trim().is_empty()) {
                // The backend runs in a container: the host's loopback is the gateway there.
                Some(url) => Self::Server {
                    base_url: url
                        .replace("://localhost", &format!("://{}", fake_model::CONTAINER_HOST))
                        .replace("://127.0.0.1", &format!("://{}", fake_model::CONTAINER_HOST)),
                },
                None => Self::Offline,
            }),
        }
    }

    fn label(&self) -> String {
        match self {
            Self::Offline => "the offline assistant".to_owned(),
            Self::Server { base_url } => format!("the model server at {base_url}"),
            Self::Llama(server) => format!("llama.cpp with SmolLM2 135M at {}", server.base_url_for_containers()),
        }
    }

    async fn stack(&self, images: &Images) -> anyhow::Result<Stack> {
        let model = |backend: ContainerRequest<GenericImage>, base_url: &str| {
            let backend = with_model(backend, base_url)
                .with_env_var("OPENAI_TEMPERATURE", "0")
                // A small model on two shared cores takes minutes per turn at worst.
                .with_env_var("OPENAI_TIMEOUT_SECS", "600")
                .with_env_var("CHAT_TIMEOUT_SECS", "1800");
            let backend = match std::env::var("OPENAI_API_KEY") {
                Ok(key) if !key.is_empty() => backend.with_env_var("OPENAI_API_KEY", key),
                _ => backend,
            };
            match std::env::var("OPENAI_MODEL") {
                Ok(name) if !name.is_empty() => backend.with_env_var("OPENAI_MODEL", name),
                _ => backend,
            }
        };
        // Every case signs up and chats from this one address.
        let roomy = |backend: ContainerRequest<GenericImage>| {
            backend
                .with_env_var("AUTH_RATE_LIMIT_PER_MINUTE", "1000")
                .with_env_var("CHAT_RATE_LIMIT_PER_MINUTE", "1000")
        };
        let web = [("PROXY_TIMEOUT_SECS", "1800")];
        match self {
            Self::Offline => Stack::start(images, roomy, &web).await,
            Self::Server { base_url } => Stack::start(images, |b| model(roomy(b), base_url), &web).await,
            Self::Llama(server) => {
                let url = server.base_url_for_containers();
                Stack::start(images, |b| model(roomy(b), &url).with_env_var("OPENAI_MODEL", "smollm2-135m"), &web).await
            }
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("eval/cases.json");
    let mut file: CaseFile = serde_json::from_str(&std::fs::read_to_string(&path)?)
        .with_context(|| format!("reading the evaluation set {}", path.display()))?;
    // A slow model can be measured on a few categories at a time.
    if let Ok(only) = std::env::var("EVAL_CATEGORIES") {
        let only: Vec<&str> = only.split(',').map(str::trim).filter(|c| !c.is_empty()).collect();
        if let Some(unknown) = only.iter().find(|c| !file.cases.iter().any(|case| case.category == **c)) {
            bail!("EVAL_CATEGORIES names {unknown:?}, which no case has");
        }
        file.cases.retain(|case| only.contains(&case.category.as_str()));
    }
    let Some(images) = Images::from_env() else {
        bail!("set BACKEND_IMAGE, WEB_IMAGE and POSTGRES_IMAGE (`just eval` does)")
    };
    let assistant = Assistant::choose().await?;
    println!("evaluating {} with {} cases of {}", assistant.label(), file.cases.len(), path.display());
    let stack = assistant.stack(&images).await?;
    let started = Instant::now();
    let mut by_category: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut misses = Vec::new();
    for (number, case) in file.cases.iter().enumerate() {
        let asked = Instant::now();
        let outcome = run_case(&stack, case).await?;
        // Progress on stderr: a real model on a laptop takes seconds to minutes per case.
        let verdict = if outcome.is_ok() { "pass" } else { "miss" };
        eprintln!("[{}/{}] {verdict} in {:.1?}: {:?}", number + 1, file.cases.len(), asked.elapsed(), case.say);
        let tally = by_category.entry(&case.category).or_default();
        tally.1 += 1;
        match outcome {
            Ok(()) => tally.0 += 1,
            Err(reason) => misses.push(format!("{:>3}. [{}] {:?}: {reason}", number + 1, case.category, case.say)),
        }
    }
    let (passed, total) = by_category.values().fold((0, 0), |(p, t), (cp, ct)| (p + cp, t + ct));
    let percent = |p: usize, t: usize| if t == 0 { 0.0 } else { 100.0 * p as f64 / t as f64 };
    println!("\n| category | passed | cases | accuracy |\n|---|---:|---:|---:|");
    for (category, (p, t)) in &by_category {
        println!("| {category} | {p} | {t} | {:.0} % |", percent(*p, *t));
    }
    println!("| **all** | **{passed}** | **{total}** | **{:.1} %** |", percent(passed, total));
    println!("\n{} in {:.0?}", assistant.label(), started.elapsed());
    if !misses.is_empty() {
        println!("\nmisses:\n{}", misses.join("\n"));
    }
    if let Ok(minimum) = std::env::var("EVAL_MIN_ACCURACY") {
        let minimum: f64 = minimum.parse().context("EVAL_MIN_ACCURACY must be a percentage such as 80")?;
        if percent(passed, total) < minimum {
            bail!("accuracy {:.1} % is below EVAL_MIN_ACCURACY={minimum}", percent(passed, total));
        }
    }
    Ok(())
}
