//! The product in a real browser: headless Chromium, driven through chromedriver, against the
//! real postgres, backend and web images on one network. A person signs up, adds a task with
//! the form and one through the (offline) assistant, is told plainly when another turn is still
//! running on the conversation (409), ticks one, undoes the assistant's changes, edits a task
//! in its row (Save, then Esc), reloads, changes the password,
//! signs out, signs in with the new password, signs out everywhere, and is sent back to sign-in
//! when the session is revoked from elsewhere.
//!
//! On failure a screenshot, the browser's console log and the page's HTML are written to
//! `tests/artifacts/` and their paths printed.

use anyhow::{Context, bail, ensure};
use api_types::{ChatEvent, SseDecoder};
use fake_model::{FakeModel, Gate, Reply};
use fantoccini::{Client, ClientBuilder, Locator, key::Key, wd::WebDriverCompatibleCommand};
use hyper_util::client::legacy::connect::HttpConnector;
use image_tests::{model::with_model, *};
use serde_json::{Value, json};
use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};
use testcontainers::{ContainerAsync, ContainerRequest, GenericImage, ImageExt, runners::AsyncRunner};

const PATIENCE: Duration = Duration::from_secs(20);

/// chromedriver on a free port, killed when dropped (also when the test panics).
struct Chromedriver {
    child: Child,
    url: String,
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first of `names` that exists: the variable's path, a default path, then `PATH`.
fn binary(variable: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(variable) {
        return Some(PathBuf::from(path)).filter(|path| path.is_file());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::iter::once(PathBuf::from("/usr/bin")).chain(std::env::split_paths(&path)).collect();
    names.iter().flat_map(|name| dirs.iter().map(move |dir| dir.join(name))).find(|candidate| candidate.is_file())
}

/// chromedriver and Chromium, or a loud skip (a failure in CI).
fn browser_binaries() -> Option<(PathBuf, PathBuf)> {
    let driver = binary("CHROMEDRIVER", &["chromedriver"]);
    let browser = binary("CHROMIUM", &["chromium", "chromium-browser", "google-chrome"]);
    match (driver, browser) {
        (Some(driver), Some(browser)) => Some((driver, browser)),
        _ if std::env::var_os("CI").is_some() => {
            panic!("chromedriver or chromium is missing in CI: install Debian's chromium and chromium-driver")
        }
        _ => {
            eprintln!(
                "\n!!! SKIPPED: chromedriver or chromium not found (set CHROMEDRIVER / CHROMIUM, or install\n\
                 !!! Debian's chromium and chromium-driver), so the browser test cannot run.\n"
            );
            None
        }
    }
}

async fn start_chromedriver(driver: &Path) -> anyhow::Result<Chromedriver> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", driver.display()))?;
    let chromedriver = Chromedriver { child, url: format!("http://127.0.0.1:{port}") };
    wait_for_status(&format!("{}/status", chromedriver.url), 200, Duration::from_secs(15)).await?;
    Ok(chromedriver)
}

async fn open_browser(chromedriver: &Chromedriver, chromium: &Path, profile: &Path) -> anyhow::Result<Client> {
    let capabilities = json!({
        "browserName": "chrome",
        "goog:loggingPrefs": {"browser": "ALL"},
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                "--window-size=1280,900", format!("--user-data-dir={}", profile.display()),
            ],
        },
    });
    let capabilities = capabilities.as_object().cloned().context("capabilities are an object")?;
    let client = ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(&chromedriver.url)
        .await
        .context("opening a Chromium session")?;
    Ok(client)
}

/// chromedriver's (non-standard) endpoint for the browser console, kept since the last call.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(json!({"type": "browser"}).to_string()))
    }
}

/// chromedriver's (non-standard) passthrough to a Chrome DevTools Protocol command.
#[derive(Debug)]
struct DevTools {
    command: &'static str,
    params: Value,
}

impl WebDriverCompatibleCommand for DevTools {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/goog/cdp/execute", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(json!({"cmd": self.command, "params": self.params}).to_string()))
    }
}

/// The colour scheme the page's `prefers-color-scheme` sees from now on: `Some("dark")` or
/// `Some("light")`, or `None` for the browser's own (light, headless). Checked from the page, so
/// a scheme that did not take fails here rather than letting a check run in the other one.
async fn emulate_color_scheme(client: &Client, scheme: Option<&str>) -> anyhow::Result<()> {
    let features =
        scheme.map_or_else(Vec::new, |scheme| vec![json!({"name": "prefers-color-scheme", "value": scheme})]);
    client.issue_cmd(DevTools { command: "Emulation.setEmulatedMedia", params: json!({"features": features}) }).await?;
    let dark = client.execute("return matchMedia('(prefers-color-scheme: dark)').matches;", Vec::new()).await?;
    ensure!(dark == Value::Bool(scheme == Some("dark")), "prefers-color-scheme did not become {scheme:?}");
    Ok(())
}

async fn console(client: &Client) -> anyhow::Result<Vec<Value>> {
    match client.issue_cmd(BrowserLog).await? {
        Value::Array(entries) => Ok(entries),
        other => bail!("unexpected browser log: {other}"),
    }
}

/// Polls a script until it returns something truthy (and returns that), or fails naming `what`.
async fn wait_until(client: &Client, what: &str, script: &str) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let value = client.execute(script, Vec::new()).await?;
        let truthy = !matches!(&value, Value::Null | Value::Bool(false))
            && value.as_str() != Some("")
            && value.as_array().is_none_or(|items| !items.is_empty());
        if truthy {
            return Ok(value);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("timed out after {PATIENCE:?} waiting for {what}; last value {value}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn css(client: &Client, selector: &str) -> anyhow::Result<fantoccini::elements::Element> {
    client
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css(selector))
        .await
        .with_context(|| format!("waiting for {selector}"))
}

async fn path(client: &Client) -> anyhow::Result<String> {
    Ok(client.current_url().await?.path().to_owned())
}

/// The task row (`li.task`) whose title contains `text`, case-insensitively, as a CSS selector.
async fn task_row(client: &Client, text: &str) -> anyhow::Result<String> {
    let script = format!(
        "const row = [...document.querySelectorAll('li.task')].find(li => \
           (li.querySelector('.task-title')?.textContent || '').toLowerCase().includes({needle})); \
         return row ? row.dataset.taskId : null;",
        needle = json!(text.to_lowercase())
    );
    let id = wait_until(client, &format!("a task titled {text:?} in the list"), &script).await?;
    Ok(format!("li.task[data-task-id=\"{}\"]", id.as_str().unwrap_or_default()))
}

/// Fails when the app wrote errors to the console, other than the network lines for the
/// `(path, status)` answers the scenario provokes on purpose at that point.
fn console_errors(entries: &[Value], provoked: &[(&str, u16)]) -> Vec<String> {
    entries
        .iter()
        .filter(|entry| entry["level"] == "SEVERE")
        .map(|entry| {
            format!("[{}] {}", entry["source"].as_str().unwrap_or("?"), entry["message"].as_str().unwrap_or(""))
        })
        .filter(|line| {
            !provoked.iter().any(|(path, status)| {
                line.starts_with("[network]") && line.contains(path) && line.contains(&format!("status of {status} "))
            })
        })
        .collect()
}

async fn ensure_quiet_console(client: &Client, provoked: &[(&str, u16)]) -> anyhow::Result<()> {
    let errors = console_errors(&console(client).await?, provoked);
    ensure!(errors.is_empty(), "the browser console has errors:\n{}", errors.join("\n"));
    Ok(())
}

/// axe-core (`scripts/install-axe.sh` puts it in .tools/axe), read once; `None` outside CI
/// when it is missing, after a loud message. In CI a missing axe-core fails the test.
fn axe_source() -> anyhow::Result<Option<String>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/axe/axe.min.js");
    match std::fs::read_to_string(&path) {
        Ok(source) => Ok(Some(source)),
        Err(error) if std::env::var_os("CI").is_some() => {
            bail!(
                "{} is missing in CI ({error}): scripts/install-host-deps.sh runs scripts/install-axe.sh",
                path.display()
            )
        }
        Err(_) => {
            eprintln!(
                "\n!!! SKIPPED the accessibility checks: no {}.\n!!! Run scripts/install-axe.sh.\n",
                path.display()
            );
            Ok(None)
        }
    }
}

/// The rules the pages are held to: WCAG 2.0 and 2.1, levels A and AA, and Deque's best practices.
const AXE_TAGS: &str = "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']";

/// Runs axe-core on the page as it is now, in the light and then the dark colour scheme
/// (style.css has one of each, and colour contrast is among the rules), and fails, listing each
/// rule and element, on any violation. The page is left in the browser's own scheme. The source
/// goes in through WebDriver, so the page's own CSP (`script-src 'self'`) is neither loosened nor
/// in the way.
async fn ensure_accessible(client: &Client, axe: Option<&str>, page: &str) -> anyhow::Result<()> {
    let Some(axe) = axe else { return Ok(()) };
    for scheme in ["light", "dark"] {
        emulate_color_scheme(client, Some(scheme)).await?;
        ensure_accessible_now(client, axe, &format!("{page} ({scheme} scheme)")).await?;
    }
    emulate_color_scheme(client, None).await
}

async fn ensure_accessible_now(client: &Client, axe: &str, page: &str) -> anyhow::Result<()> {
    client.execute(&format!("{axe}\nreturn typeof axe;"), Vec::new()).await?;
    let script = r#"
        const done = arguments[arguments.length - 1];
        axe.run(document, { runOnly: { type: 'tag', values: TAGS }, resultTypes: ['violations'] })
          .then(result => done(result.violations.map(v =>
            v.impact + ' ' + v.id + ': ' + v.help + '\n' +
            v.nodes.map(n => '    ' + n.target.join(' ') + ': ' + n.failureSummary.split('\n').join(' ')).join('\n'))))
          .catch(error => done(['axe-core failed: ' + error]));
    "#
    .replace("TAGS", AXE_TAGS);
    let violations = client.execute_async(&script, Vec::new()).await?;
    let violations: Vec<String> = serde_json::from_value(violations)?;
    ensure!(
        violations.is_empty(),
        "axe-core finds {} violation(s) on {page}:\n{}",
        violations.len(),
        violations.join("\n")
    );
    println!("axe-core: no violation on {page}");
    Ok(())
}

/// The token this page keeps in localStorage.
async fn stored_token(client: &Client) -> anyhow::Result<String> {
    let raw = client.execute("return localStorage.getItem('todo-chatbot.session')", Vec::new()).await?;
    let session: Value = serde_json::from_str(raw.as_str().context("the session is kept in localStorage")?)?;
    Ok(session["token"].as_str().context("the session has a token")?.to_owned())
}

async fn me_status(http: &reqwest::Client, url: &str, token: &str) -> anyhow::Result<u16> {
    Ok(http.get(format!("{url}/api/auth/me")).bearer_auth(token).send().await?.status().as_u16())
}

async fn sign_in(client: &Client, email: &str, password: &str) -> anyhow::Result<()> {
    css(client, "#signin-email").await?.send_keys(email).await?;
    css(client, "#signin-password").await?.send_keys(password).await?;
    css(client, ".auth-form button[type=submit]").await?.click().await?;
    css(client, "#new-task-title").await?;
    Ok(())
}

/// After signing out by any road: on /signin, with a notice that contains `expected`.
async fn signed_out_with(client: &Client, expected: &str) -> anyhow::Result<()> {
    css(client, "#signin-email").await?;
    ensure!(path(client).await? == "/signin", "not on /signin");
    let notice = css(client, ".notice").await?.text().await?;
    ensure!(notice.contains(expected), "the notice should say {expected:?}: {notice}");
    Ok(())
}

async fn scenario(client: &Client, url: &str, db: &sqlx::PgPool) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let axe = axe_source()?;
    let axe = axe.as_deref();

    let index = http.get(format!("{url}/")).send().await?;
    ensure!(index.headers().contains_key("content-security-policy"), "the app is served with a CSP");

    // Signed out, `/` leads to the sign-in page; from there to sign-up.
    client.goto(&format!("{url}/")).await?;
    css(client, "#signin-email").await?;
    ensure!(path(client).await? == "/signin", "not on /signin");
    print_timing(client, "first visit, empty cache, signed out", "todo-chatbot:first-render").await?;
    ensure_accessible(client, axe, "the sign-in page").await?;
    css(client, "a[href='/signup']").await?.click().await?;
    css(client, "#signup-name").await?;
    ensure_accessible(client, axe, "the sign-up page").await?;
    css(client, "#signup-name").await?.send_keys("Grace Hopper").await?;
    css(client, "#signup-email").await?.send_keys("grace@example.com").await?;
    css(client, "#signup-password").await?.send_keys("compilers-are-fun").await?;
    css(client, ".auth-form button[type=submit]").await?.click().await?;

    // Signed in: the task list and the assistant, side by side.
    css(client, "#new-task-title").await?;
    ensure!(path(client).await? == "/", "not on /");
    let who = css(client, ".who").await?.text().await?;
    ensure!(who.contains("Grace Hopper"), "{who}");
    wait_until(client, "the empty task list", "return document.querySelector('.empty')?.textContent").await?;

    // A task through the form, with a priority and tags.
    css(client, "#new-task-title").await?.send_keys("Buy oat milk").await?;
    css(client, ".details-toggle").await?.click().await?;
    css(client, "#new-task-priority").await?.select_by_value("high").await?;
    css(client, "#new-task-tags").await?.send_keys("groceries, home").await?;
    css(client, ".new-task button[type=submit]").await?.click().await?;
    let milk = task_row(client, "Buy oat milk").await?;
    let milk_text = css(client, &milk).await?.text().await?;
    ensure!(milk_text.contains("High") && milk_text.contains("#groceries"), "{milk_text}");

    // A task through the chat: the offline assistant answers, a chip names the tool call, and
    // the task list refreshes itself.
    css(client, "#offline-note").await?;
    let input = css(client, "#chat-input").await?;
    input.send_keys(&format!("add task test Kubernetes deployment{}", char::from(Key::Enter))).await?;
    let chip = wait_until(
        client,
        "the add_task chip",
        "return [...document.querySelectorAll('.chip')].map(c => c.textContent).find(t => t.startsWith('added task'))",
    )
    .await?;
    ensure!(chip.as_str().unwrap_or_default().to_lowercase().contains("kubernetes"), "{chip}");
    wait_until(
        client,
        "the assistant's answer",
        "return document.querySelector('.message.assistant:not(.streaming) .bubble')?.textContent",
    )
    .await?;
    let kubernetes = task_row(client, "test Kubernetes deployment").await?;
    task_row(client, "Buy oat milk").await?;
    let input_value = client.execute("return document.getElementById('chat-input').value", Vec::new()).await?;
    ensure!(input_value == "", "Enter should send the message and clear the input: {input_value}");
    ensure_accessible(client, axe, "the task page with two tasks, a chat turn and its tool chip").await?;

    // Another tab's turn still running on this conversation (its lease held in the database,
    // as a running turn holds it): the backend answers 409, and the panel says so plainly and
    // gives the unsent words back instead of showing a failed message.
    sqlx::query("UPDATE conversations SET turn_id = gen_random_uuid(), turn_until = now() + interval '1 hour'")
        .execute(db)
        .await?;
    let sent_before = client.execute("return document.querySelectorAll('.message.user').length", Vec::new()).await?;
    input.send_keys(&format!("list my tasks{}", char::from(Key::Enter))).await?;
    let busy =
        wait_until(client, "the busy message", "return document.querySelector('.chat-error')?.textContent").await?;
    ensure!(busy.as_str().unwrap_or_default().contains("still answering an earlier message"), "{busy}");
    let kept = client.execute("return document.getElementById('chat-input').value", Vec::new()).await?;
    ensure!(kept == "list my tasks", "the unsent message should be back in the input: {kept}");
    let sent_after = client.execute("return document.querySelectorAll('.message.user').length", Vec::new()).await?;
    ensure!(sent_after == sent_before, "the unsent message stays out of the log: {sent_before} then {sent_after}");
    // Once that turn is over, sending it again works.
    sqlx::query("UPDATE conversations SET turn_id = NULL, turn_until = NULL").execute(db).await?;
    let answers = "return document.querySelectorAll('.message.assistant:not(.streaming) .bubble').length";
    let answered_before = client.execute(answers, Vec::new()).await?.as_u64().unwrap_or_default();
    css(client, "#chat-input").await?.send_keys(&char::from(Key::Enter).to_string()).await?;
    wait_until(
        client,
        "the answer to the resent message",
        &format!("{answers} > {answered_before} && !document.querySelector('.chat-error')"),
    )
    .await?;

    // Tick it; the API must agree before we reload.
    css(client, &format!("{kubernetes} .task-toggle")).await?.click().await?;
    let session: Value = serde_json::from_str(
        client
            .execute("return localStorage.getItem('todo-chatbot.session')", Vec::new())
            .await?
            .as_str()
            .context("the session is kept in localStorage")?,
    )?;
    let (user_id, token) =
        (session["user"]["id"].as_str().unwrap_or_default(), session["token"].as_str().unwrap_or_default());
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let page: api_types::TaskPage =
            http.get(format!("{url}/api/{user_id}/tasks")).bearer_auth(token).send().await?.json().await?;
        ensure!(page.total == 2, "two tasks expected: {page:?}");
        let done: Vec<&str> = page.items.iter().filter(|task| task.completed).map(|task| task.title.as_str()).collect();
        if done.len() == 1 && done[0].to_lowercase().contains("kubernetes") {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("the tick never reached the API: completed tasks are {done:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Undo from the chat: a task the assistant added goes away again with its chip's Undo button,
    // and the chip says it is undone.
    css(client, "#chat-input").await?.send_keys(&format!("add task undo me soon{}", char::from(Key::Enter))).await?;
    task_row(client, "undo me soon").await?;
    let undo_button = "[...document.querySelectorAll('.chip')].find(c => c.textContent.includes('undo me soon'))\
                       ?.querySelector('button.undo')";
    wait_until(client, "the Undo button of the new chip", &format!("return {undo_button} ? true : null")).await?;
    client.execute(&format!("{undo_button}.click()"), Vec::new()).await?;
    wait_until(
        client,
        "the chip marked undone",
        "return [...document.querySelectorAll('.chip.undone')].find(c => c.textContent.includes('undo me soon')) ? true : null",
    )
    .await?;
    let page: api_types::TaskPage =
        http.get(format!("{url}/api/{user_id}/tasks")).bearer_auth(token).send().await?.json().await?;
    ensure!(
        page.total == 2 && page.items.iter().all(|task| task.title != "undo me soon"),
        "the undone task is gone: {page:?}"
    );
    wait_until(
        client,
        "the task list without the undone task",
        "return [...document.querySelectorAll('.task-title')].some(t => t.textContent.includes('undo me soon')) ? null : true",
    )
    .await?;

    // Undo from the chat for every other kind of change a tool makes (an update, a completion,
    // a deletion): each chip's Undo puts the task back exactly as it was, `updated_at` included.
    let milk_id = page.items.iter().find(|task| task.title == "Buy oat milk").map(|task| task.id);
    let milk_id = milk_id.context("the form's task is listed")?;
    let milk_url = format!("{url}/api/{user_id}/tasks/{milk_id}");
    let milk_before: api_types::Task = http.get(&milk_url).bearer_auth(token).send().await?.json().await?;
    for (command, summary) in [
        (format!("rename task {milk_id} to Buy soy milk"), format!("updated task {milk_id}: Buy soy milk")),
        (format!("complete task {milk_id}"), format!("completed task {milk_id}")),
        (format!("delete task {milk_id}"), format!("deleted task {milk_id}")),
    ] {
        let undone = "return document.querySelectorAll('.chip.undone').length";
        let undone_before = client.execute(undone, Vec::new()).await?.as_u64().unwrap_or_default();
        css(client, "#chat-input").await?.send_keys(&format!("{command}{}", char::from(Key::Enter))).await?;
        let undo_button = format!(
            "[...document.querySelectorAll('.chip:not(.undone):not(.running)')].find(c => c.textContent.includes({summary:?}))\
             ?.querySelector('button.undo')"
        );
        wait_until(client, &format!("the Undo button of {summary:?}"), &format!("return {undo_button} ? true : null"))
            .await?;
        client.execute(&format!("{undo_button}.click()"), Vec::new()).await?;
        wait_until(client, &format!("{summary:?} undone"), &format!("{undone} > {undone_before} ? true : null"))
            .await?;
        let milk_now: api_types::Task = http.get(&milk_url).bearer_auth(token).send().await?.json().await?;
        ensure!(milk_now == milk_before, "after undoing {command:?} the task is as it was: {milk_now:?}");
    }
    task_row(client, "Buy oat milk").await?;

    // Edit a task in its row: the Edit button opens the form, Save writes the new title; a
    // double-click on the title opens it again, and Esc closes it without saving what was typed.
    let kubernetes = task_row(client, "test Kubernetes deployment").await?;
    let kubernetes_id = css(client, &kubernetes).await?.attr("data-task-id").await?.unwrap_or_default();
    let form_open = format!("document.querySelector('{kubernetes} form.edit-task')");
    css(client, &format!("#edit-{kubernetes_id}")).await?.click().await?;
    css(client, &format!("#edit-{kubernetes_id}-title")).await?.send_keys(" on two nodes").await?;
    css(client, &format!("{kubernetes} form.edit-task button[type=submit]")).await?.click().await?;
    wait_until(
        client,
        "the saved title in the row, the form closed",
        &format!(
            "return !{form_open} && document.querySelector('{kubernetes} .task-title')?.textContent \
               .includes('on two nodes') ? true : null"
        ),
    )
    .await?;
    let kubernetes_url = format!("{url}/api/{user_id}/tasks/{kubernetes_id}");
    let saved: api_types::Task = http.get(&kubernetes_url).bearer_auth(token).send().await?.json().await?;
    ensure!(saved.title == "test Kubernetes deployment on two nodes", "{saved:?}");
    client
        .execute(
            &format!(
                "document.querySelector('{kubernetes} .task-title').dispatchEvent(new MouseEvent('dblclick', {{bubbles: true}}))"
            ),
            Vec::new(),
        )
        .await?;
    css(client, &format!("#edit-{kubernetes_id}-title"))
        .await?
        .send_keys(&format!(" and never saved{}", char::from(Key::Escape)))
        .await?;
    wait_until(client, "the form closed by Esc", &format!("return {form_open} ? null : true")).await?;
    let after_escape: api_types::Task = http.get(&kubernetes_url).bearer_auth(token).send().await?.json().await?;
    ensure!(after_escape == saved, "Esc saved nothing: {after_escape:?}");
    let row_text = css(client, &kubernetes).await?.text().await?;
    ensure!(!row_text.contains("never saved"), "{row_text}");

    // A reload keeps the session and shows the tick.
    client.refresh().await?;
    let kubernetes = task_row(client, "test Kubernetes deployment").await?;
    let milk = task_row(client, "Buy oat milk").await?;
    ensure!(css(client, &format!("{kubernetes} .task-toggle")).await?.is_selected().await?, "ticked after reload");
    ensure!(!css(client, &format!("{milk} .task-toggle")).await?.is_selected().await?, "the other stays open");
    ensure!(path(client).await? == "/", "not on /");
    print_timing(client, "reload, signed in, cached", "todo-chatbot:tasks-loaded").await?;

    // Change the password. Each step adds the one missing character: WebDriver's clear()
    // would not fire the input events the form listens to.
    let old_token = token.to_owned();
    css(client, "#account-link").await?.click().await?;
    css(client, "#current-password").await?.send_keys("compilers-are-fu").await?;
    ensure!(path(client).await? == "/account", "not on /account");
    css(client, "#new-password").await?.send_keys("debugging-moths-1947").await?;
    css(client, "#confirm-password").await?.send_keys("debugging-moths-194").await?;
    css(client, ".auth-form button[type=submit]").await?.click().await?;
    let mismatch = css(client, "#confirm-password-error").await?.text().await?;
    ensure!(mismatch.contains("do not match"), "{mismatch}");
    ensure_accessible(client, axe, "the account page showing a field error").await?;
    css(client, "#confirm-password").await?.send_keys("7").await?;
    css(client, ".auth-form button[type=submit]").await?.click().await?;
    let wrong = css(client, "#current-password-error").await?.text().await?;
    ensure!(wrong.contains("not your current password"), "{wrong}");
    css(client, "#current-password").await?.send_keys("n").await?;
    css(client, ".auth-form button[type=submit]").await?.click().await?;
    css(client, "#password-changed").await?;
    ensure_accessible(client, axe, "the account page after the change").await?;
    ensure!(me_status(&http, url, &old_token).await? == 401, "the token from before the change still works");
    let changed_token = stored_token(client).await?;
    ensure!(me_status(&http, url, &changed_token).await? == 200, "this browser stays signed in");
    css(client, "#back-to-tasks").await?.click().await?;
    task_row(client, "Buy oat milk").await?;

    // Sign out: back to the sign-in page, the token is dead on the server too, and a reload
    // stays there.
    css(client, "#sign-out").await?.click().await?;
    signed_out_with(client, "signed out").await?;
    ensure!(me_status(&http, url, &changed_token).await? == 401, "sign-out must end the session on the server");
    client.goto(&format!("{url}/")).await?;
    css(client, "#signin-email").await?;
    ensure!(path(client).await? == "/signin", "not on /signin");

    // The new password signs in, and the tasks are there.
    sign_in(client, "grace@example.com", "debugging-moths-1947").await?;
    task_row(client, "Buy oat milk").await?;

    // Sign out everywhere, from the account page.
    let everywhere_token = stored_token(client).await?;
    css(client, "#account-link").await?.click().await?;
    css(client, "#sign-out-everywhere").await?.click().await?;
    signed_out_with(client, "every device").await?;
    ensure_accessible(client, axe, "the sign-in page with a notice").await?;
    ensure!(me_status(&http, url, &everywhere_token).await? == 401, "sign out everywhere left a token working");

    // The console so far: only the chat's 409 and the wrong current password's 422 were provoked. (Each read
    // returns what was logged since the last one.)
    ensure_quiet_console(client, &[("/chat", 409), ("/api/auth/password", 422)]).await?;

    // A session ended from elsewhere: the page's next calls get 401s, and the first sends it
    // to sign-in, saying why.
    sign_in(client, "grace@example.com", "debugging-moths-1947").await?;
    let revoked = stored_token(client).await?;
    let ended = http.post(format!("{url}/api/auth/sign-out")).bearer_auth(&revoked).send().await?;
    ensure!(ended.status() == 204, "sign-out answered {}", ended.status());
    client.refresh().await?;
    signed_out_with(client, "this session was signed out").await?;

    ensure_quiet_console(client, &[("/api/", 401)]).await
}

/// The page's own navigation timing, for docs/benchmarks.md, once the mark `until` is set.
async fn print_timing(client: &Client, label: &str, until: &str) -> anyhow::Result<()> {
    let script = format!(
        "const nav = performance.getEntriesByType('navigation')[0]; \
         const mark = name => performance.getEntriesByName(name)[0]?.startTime; \
         const wasm = performance.getEntriesByType('resource').find(r => r.name.endsWith('.wasm')); \
         if (!nav || nav.loadEventEnd === 0 || mark({until}) === undefined) return null; \
         return {{ responseEnd: nav.responseEnd, domContentLoaded: nav.domContentLoadedEventEnd, load: nav.loadEventEnd, \
                  firstRender: mark('todo-chatbot:first-render'), tasksLoaded: mark('todo-chatbot:tasks-loaded'), \
                  wasmTransferred: wasm?.transferSize, wasmDecoded: wasm?.decodedBodySize }};",
        until = json!(until)
    );
    let timing = wait_until(client, "the navigation timing marks", &script).await?;
    println!("BENCH web navigation timing ({label}; ms since navigation start, bytes): {timing}");
    Ok(())
}

/// Screenshot, console log and HTML of the failing page, under tests/artifacts/.
async fn save_artifacts(client: &Client, name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts");
    if let Err(error) = std::fs::create_dir_all(&dir) {
        eprintln!("cannot create {}: {error}", dir.display());
        return;
    }
    let screenshot = dir.join(format!("{name}.png"));
    match client.screenshot().await {
        Ok(png) => match std::fs::write(&screenshot, png) {
            Ok(()) => eprintln!("ARTIFACT screenshot: {}", screenshot.display()),
            Err(error) => eprintln!("cannot write {}: {error}", screenshot.display()),
        },
        Err(error) => eprintln!("no screenshot: {error}"),
    }
    let log = dir.join(format!("{name}.console.log"));
    match console(client).await {
        Ok(entries) => {
            let lines: Vec<String> = entries.iter().map(Value::to_string).collect();
            match std::fs::write(&log, lines.join("\n")) {
                Ok(()) => eprintln!("ARTIFACT console log: {}", log.display()),
                Err(error) => eprintln!("cannot write {}: {error}", log.display()),
            }
        }
        Err(error) => eprintln!("no console log: {error}"),
    }
    let html = dir.join(format!("{name}.html"));
    if let Ok(source) = client.source().await
        && std::fs::write(&html, source).is_ok()
    {
        eprintln!("ARTIFACT page source: {}", html.display());
    }
}

/// postgres, the backend (as `configure` sets it up) and web from the images, on one network:
/// the web server's URL, a pool that reaches the database from the host, and the containers,
/// which stop when dropped.
async fn start_stack(
    images: &Images,
    configure: impl FnOnce(ContainerRequest<GenericImage>) -> ContainerRequest<GenericImage>,
) -> anyhow::Result<(String, sqlx::PgPool, Vec<ContainerAsync<GenericImage>>)> {
    install_tls_provider();
    let network = unique("net");
    let db = unique("db");
    let backend_name = unique("backend");
    let postgres = start_postgres(images, &network, &db).await?;
    let pool = connect_from_host(&postgres).await?;
    let backend = configure(backend(images, &network, &backend_name, &database_url(&db))).start().await?;
    let web = web(images, &network, &unique("web"), &format!("http://{backend_name}:8000")).start().await?;
    let url = base_url(&web, 3000).await?;
    wait_for_status(&format!("{url}/api/readyz"), 200, Duration::from_secs(30)).await?;
    Ok((url, pool, vec![web, backend, postgres]))
}

/// chromedriver and a Chromium session with a fresh profile, for one scenario.
struct Browser {
    client: Client,
    profile: PathBuf,
    _chromedriver: Chromedriver,
}

impl Browser {
    async fn open(driver: &Path, chromium: &Path) -> anyhow::Result<Self> {
        let chromedriver = start_chromedriver(driver).await?;
        let profile = std::env::temp_dir().join(unique("chromium-profile"));
        let client = open_browser(&chromedriver, chromium, &profile).await?;
        Ok(Self { client, profile, _chromedriver: chromedriver })
    }

    /// Ends the session (with artifacts when the scenario failed) and passes its outcome on.
    async fn close(self, outcome: anyhow::Result<()>, name: &str) -> anyhow::Result<()> {
        if outcome.is_err() {
            save_artifacts(&self.client, &unique(name)).await;
        }
        let _ = self.client.close().await;
        let _ = std::fs::remove_dir_all(&self.profile);
        outcome
    }
}

#[tokio::test]
async fn a_person_signs_up_adds_tasks_ticks_one_changes_the_password_and_signs_out_everywhere() -> anyhow::Result<()> {
    let Some(images) = Images::from_env() else {
        return Ok(());
    };
    let Some((driver, chromium)) = browser_binaries() else {
        return Ok(());
    };
    let (url, pool, _containers) = start_stack(&images, |backend| backend).await?;

    let browser = Browser::open(&driver, &chromium).await?;
    let outcome = scenario(&browser.client, &url, &pool).await;
    browser.close(outcome, "browser-failure").await
}

/// Installed in the page before a streamed turn: a copy of every event stream the app fetches
/// (`window.__streams`, read from a tee of the body, so the app reads it as it would), and
/// each state the chat log's last answer (`window.__answer()`) goes through (`window.__states`,
/// recorded by a MutationObserver on every change the app makes to the DOM).
const RECORDERS: &str = r#"
    window.__streams = [];
    const fetch = window.fetch;
    window.fetch = async (...args) => {
      const response = await fetch(...args);
      if (!(response.headers.get('content-type') || '').startsWith('text/event-stream')) return response;
      const [copy, body] = response.body.tee();
      const index = window.__streams.push('') - 1;
      (async () => {
        const reader = copy.getReader(), decoder = new TextDecoder();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          window.__streams[index] += decoder.decode(value, { stream: true });
        }
      })();
      return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
    };
    window.__answer = () => {
      const answer = [...document.querySelectorAll('#chat-log .message.assistant')].pop();
      if (!answer) return null;
      return {
        streaming: answer.classList.contains('streaming'),
        text: answer.querySelector('.bubble:not(.typing)')?.textContent ?? '',
        chips: [...answer.querySelectorAll('.chip')].map(chip => ({
          running: chip.classList.contains('running'), busy: chip.getAttribute('aria-busy'),
          text: chip.textContent, undo: !!chip.querySelector('button.undo'),
        })),
      };
    };
    window.__states = [];
    new MutationObserver(() => {
      const answer = window.__answer();
      if (!answer) return;
      const state = JSON.stringify(answer);
      if (window.__states[window.__states.length - 1] !== state) window.__states.push(state);
    }).observe(document.getElementById('chat-log'), { childList: true, subtree: true, characterData: true, attributes: true });
    return true;
"#;

/// The last answer in the chat log, as the recorder sees it.
const LAST_ANSWER: &str = "return window.__answer()";

/// Polls the last answer until `accept` takes it; fails with the last one seen.
async fn answer_until(client: &Client, what: &str, accept: impl Fn(&Value) -> bool) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let answer = client.execute(LAST_ANSWER, Vec::new()).await?;
        if accept(&answer) {
            return Ok(answer);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("timed out after {PATIENCE:?} waiting for {what}; the last answer is {answer}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn running_chip(answer: &Value) -> bool {
    answer["chips"].as_array().is_some_and(|chips| {
        chips.len() == 1 && chips[0]["running"] == true && chips[0]["busy"] == "true" && chips[0]["undo"] == false
    })
}

/// A turn answered by a model, watched as it streams. Two things hold it still where the test
/// looks, with no timing involved: the fake model pauses its first reply part-way until the
/// test releases it, and the test locks the task table so that the tool the reply asks for
/// cannot finish before the test lets it. What the page shows at each stop is checked there,
/// then the final answer against the `done` event the page received, then Undo from the chip
/// that arrived by streaming.
async fn streaming_scenario(client: &Client, url: &str, db: &sqlx::PgPool, fake: &FakeModel) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let axe = axe_source()?;
    let session = sign_up(&http, url, "ada@example.com").await?;
    client.goto(&format!("{url}/signin")).await?;
    css(client, "#signin-email").await?;
    client
        .execute(
            "localStorage.setItem('todo-chatbot.session', arguments[0])",
            vec![json!(serde_json::to_string(&session)?)],
        )
        .await?;
    client.goto(&format!("{url}/")).await?;
    css(client, "#chat-input").await?;
    client.execute(RECORDERS, Vec::new()).await?;

    // Reply 1: some text, then a call of add_task; paused after the role and two 4-character
    // pieces of text. Reply 2, after the tool: the answer that is kept.
    let said_first = "Sure, adding it now.";
    let kept = "Added task: water the plants.";
    let mut first = FakeModel::tools_message(&[("call_water", "add_task", json!({"title": "water the plants"}))]);
    first["content"] = json!(said_first);
    let gate = Gate::new();
    fake.then(Reply::Paused { message: first, after: 3, gate: gate.clone() }).then_text(kept);
    let mut hold = db.begin().await?;
    sqlx::query("LOCK TABLE tasks IN EXCLUSIVE MODE").execute(&mut *hold).await?;

    css(client, "#chat-input").await?.send_keys(&format!("water the plants, please{}", char::from(Key::Enter))).await?;

    // Stop 1: the model is paused: the text so far, no chip yet.
    tokio::time::timeout(PATIENCE, gate.reached()).await.context("the model was never asked")?;
    let paused = answer_until(client, "the first pieces of text", |answer| answer["text"] == "Sure, ad").await?;
    ensure!(paused["streaming"] == true && paused["chips"] == json!([]), "{paused}");

    // Stop 2: the reply is complete and its tool is running, held by the lock.
    gate.release();
    let running =
        answer_until(client, "the running chip", |answer| answer["text"] == said_first && running_chip(answer)).await?;
    ensure!(running["streaming"] == true, "{running}");
    ensure!(running["chips"][0]["text"] == "running add_task…", "{running}");
    ensure_accessible(client, axe.as_deref(), "the chat while an answer streams, its tool running").await?;

    // The tool runs, the model answers, the turn ends.
    hold.rollback().await?;
    let finished = answer_until(client, "the finished answer", |answer| answer["streaming"] == false).await?;

    // What the page received: the events in the contract's order, ending with done.
    let raw = wait_until(
        client,
        "the whole event stream, as the page received it",
        "return window.__streams.length === 1 && window.__streams[0].includes('event: done') ? window.__streams[0] : null",
    )
    .await?;
    let mut decoder = SseDecoder::new();
    let mut events: Vec<ChatEvent> = decoder
        .push(raw.as_str().unwrap_or_default().as_bytes())
        .into_iter()
        .chain(decoder.finish())
        .map(|event| serde_json::from_str(&event.data))
        .collect::<Result<_, _>>()?;
    let Some(ChatEvent::Done { response }) = events.pop() else { bail!("the stream ends with done: {events:?}") };
    let names: Vec<&str> = events.iter().map(ChatEvent::name).filter(|name| *name != "text_delta").collect();
    ensure!(names == ["started", "tool_call", "tool_result"], "{names:?}");
    ensure!(response.response == kept, "{response:?}");
    ensure!(finished["text"] == response.response.as_str(), "the page shows done's text: {finished}");
    ensure!(response.tool_calls.len() == 1 && response.tool_calls[0].change_id.is_some(), "{response:?}");
    let chip = &finished["chips"][0];
    ensure!(chip["running"] == false && chip["busy"].is_null() && chip["undo"] == true, "{finished}");
    ensure!(chip["text"].as_str().unwrap_or_default().starts_with(&response.tool_calls[0].summary()), "{finished}");

    // The states the page went through, in order: the paused text, then the running chip
    // under the text said before it, then the chip done, then the final answer.
    let states: Vec<Value> =
        serde_json::from_value::<Vec<String>>(client.execute("return window.__states", Vec::new()).await?)?
            .iter()
            .map(|state| serde_json::from_str(state))
            .collect::<Result<_, _>>()?;
    let at = |what: &str, test: &dyn Fn(&Value) -> bool| {
        states.iter().position(test).with_context(|| format!("no state shows {what}: {states:#?}"))
    };
    let partial = at("the paused text", &|state| state["streaming"] == true && state["text"] == "Sure, ad")?;
    let running = at("the running chip", &|state| state["streaming"] == true && running_chip(state))?;
    let done = at("the final answer", &|state| state["streaming"] == false && state["text"] == kept)?;
    ensure!(partial < running && running < done, "out of order ({partial}, {running}, {done}): {states:#?}");
    ensure!(states.last() == Some(&finished), "the final state is the answer on screen: {states:#?}");

    // Undo from the chip that arrived by streaming: the task goes away again.
    let tasks = format!("{url}/api/{}/tasks", session.user.id);
    let page: api_types::TaskPage = http.get(&tasks).bearer_auth(&session.token).send().await?.json().await?;
    ensure!(page.items.iter().map(|task| task.title.as_str()).collect::<Vec<_>>() == ["water the plants"], "{page:?}");
    task_row(client, "water the plants").await?;
    client
        .execute("[...document.querySelectorAll('#chat-log .message.assistant')].pop().querySelector('.chip button.undo').click()", Vec::new())
        .await?;
    answer_until(client, "the chip marked undone", |answer| {
        answer["chips"][0]["undo"] == false
            && answer["chips"][0]["text"].as_str().is_some_and(|text| text.ends_with("(undone)"))
    })
    .await?;
    let page: api_types::TaskPage = http.get(&tasks).bearer_auth(&session.token).send().await?.json().await?;
    ensure!(page.total == 0, "the undone task is gone: {page:?}");
    ensure!(fake.rejections().is_empty(), "the model was asked in the strict shape: {:?}", fake.rejections());
    ensure_quiet_console(client, &[]).await
}

#[tokio::test]
async fn a_streamed_answer_shows_its_text_and_running_tools_as_they_arrive() -> anyhow::Result<()> {
    let Some(images) = Images::from_env() else {
        return Ok(());
    };
    let Some((driver, chromium)) = browser_binaries() else {
        return Ok(());
    };
    let fake = FakeModel::start().await;
    let (url, pool, _containers) = start_stack(&images, |backend| {
        with_model(backend, &fake.base_url_for_containers()).with_env_var("OPENAI_MODEL", "browser-test-model")
    })
    .await?;

    let browser = Browser::open(&driver, &chromium).await?;
    let outcome = streaming_scenario(&browser.client, &url, &pool, &fake).await;
    browser.close(outcome, "browser-streaming-failure").await
}
