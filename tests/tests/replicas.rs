//! Two backend replicas behind one address, as a Kubernetes Service puts them: every request
//! may land on either, so nothing a client does may depend on which one served the last.

use anyhow::{Context, bail};
use api_types::{AuthResponse, ChatMessage, ChatResponse, ConversationSummary, MessageRole, Readiness, Task, TaskPage};
use image_tests::{
    balancer::{Balancer, two_replicas},
    *,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;
use testcontainers::{ImageExt, core::Host, runners::AsyncRunner};

/// A signed-in client of one base URL (the balancer, or the web server in front of it).
struct Api {
    client: reqwest::Client,
    base: String,
    session: AuthResponse,
}

impl Api {
    async fn sign_up(base: &str, email: &str) -> anyhow::Result<Self> {
        let client = reqwest::Client::new();
        let body = json!({"email": email, "password": "replicas all the way", "name": "Replica Tester"});
        let response = client.post(format!("{base}/api/auth/sign-up")).json(&body).send().await?;
        anyhow::ensure!(response.status() == StatusCode::CREATED, "sign-up: {}", response.text().await?);
        Ok(Self { client, base: base.to_owned(), session: response.json().await? })
    }

    async fn sign_in(base: &str, email: &str) -> anyhow::Result<Self> {
        let client = reqwest::Client::new();
        let body = json!({"email": email, "password": "replicas all the way"});
        let response = client.post(format!("{base}/api/auth/sign-in")).json(&body).send().await?;
        anyhow::ensure!(response.status() == StatusCode::OK, "sign-in: {}", response.text().await?);
        Ok(Self { client, base: base.to_owned(), session: response.json().await? })
    }

    /// `path` below `/api/{user_id}`, with the bearer token; the status must be `expected`.
    async fn call(&self, method: Method, path: &str, body: Option<Value>, expected: u16) -> anyhow::Result<Value> {
        let url = format!("{}/api/{}{path}", self.base, self.session.user.id);
        let mut request = self.client.request(method.clone(), &url).bearer_auth(&self.session.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        if status != expected {
            bail!("{method} {url}: expected {expected}, got {status}: {text}");
        }
        Ok(if text.is_empty() { Value::Null } else { serde_json::from_str(&text)? })
    }
}

fn decode<T: serde::de::DeserializeOwned>(value: Value) -> anyhow::Result<T> {
    serde_json::from_value(value).context("decoding a response body")
}

/// Polls `/readyz` until `accept` says yes, for at most `patience`.
async fn wait_for_readiness(
    url: &str,
    patience: Duration,
    accept: impl Fn(&Readiness) -> bool,
) -> anyhow::Result<Readiness> {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        let last: Option<Readiness> = match reqwest::get(format!("{url}/readyz")).await {
            Ok(response) => response.json().await.ok(),
            Err(_) => None,
        };
        match last {
            Some(readiness) if accept(&readiness) => return Ok(readiness),
            _ if tokio::time::Instant::now() >= deadline => bail!("{url}/readyz never got there; last: {last:?}"),
            _ => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

fn check<'a>(readiness: &'a Readiness, name: &str) -> Option<&'a api_types::ReadinessCheck> {
    readiness.checks.iter().find(|check| check.name == name)
}

/// How many requests each upstream answered, and whether every one was below 400.
fn tally(served: &[balancer::Served], path_prefix: &str) -> ([usize; 2], Vec<balancer::Served>) {
    let mut counts = [0, 0];
    let mut failed = Vec::new();
    for entry in served.iter().filter(|entry| entry.path.starts_with(path_prefix)) {
        counts[entry.upstream] += 1;
        if entry.status >= 400 {
            failed.push(entry.clone());
        }
    }
    (counts, failed)
}

#[tokio::test]
async fn two_replicas_behind_one_address_serve_the_api_a_chat_and_an_mcp_session() -> anyhow::Result<()> {
    let Some(images) = Images::from_env() else {
        return Ok(());
    };
    let Some(python) = mcp::python() else {
        return Ok(());
    };
    let network = unique("net");
    let db = unique("db");
    let _postgres = start_postgres(&images, &network, &db).await?;

    // As the chart runs them: the replicas leave the schema to a migration job. Replica b
    // listens on IPv6's any-address and another port, as on an IPv6 cluster.
    let url = database_url(&db);
    let a = backend(&images, &network, &unique("replica-a"), &url).with_env_var("MIGRATE_ON_START", "false").start();
    let b = backend_on_port(&images, &network, &unique("replica-b"), &url, 9000)
        .with_env_var("HOST", "::")
        .with_env_var("MIGRATE_ON_START", "false")
        .start();
    let (a, b) = tokio::join!(a, b);
    let (a, b) = (a?, b?);
    let replicas = [base_url(&a, 8000).await?, base_url(&b, 9000).await?];
    for replica in &replicas {
        let waiting = wait_for_readiness(replica, Duration::from_secs(30), |r| {
            check(r, "database").is_some_and(|c| c.status == api_types::CheckStatus::Ok)
        })
        .await?;
        let migrations = check(&waiting, "migrations").context("a migrations check")?;
        assert_eq!(migrations.status, api_types::CheckStatus::Failing, "{waiting:?}");
        assert!(migrations.detail.contains("pending"), "{waiting:?}");
    }
    migrate_job(&images, &network, &url).start().await.context("the migration job")?;
    for replica in &replicas {
        wait_for_status(&format!("{replica}/readyz"), 200, Duration::from_secs(30)).await?;
    }
    for (container, address) in [(&a, "0.0.0.0:8000"), (&b, "[::]:9000")] {
        let logs = String::from_utf8(container.stdout_to_vec().await?)?;
        assert!(logs.contains(&format!("\"address\":\"{address}\"")), "not listening on {address}:\n{logs}");
        assert!(!logs.contains("database schema is up to date"), "a replica migrated by itself:\n{logs}");
    }
    // The healthcheck subcommand, run inside the container, finds the server on PORT too.
    let mut probe = b.exec(testcontainers::core::ExecCommand::new(["backend", "healthcheck"])).await?;
    let said = String::from_utf8(probe.stderr_to_vec().await?)?;
    assert_eq!(probe.exit_code().await?, Some(0), "{said}");

    let balancer = Balancer::start(&replicas).await?;
    let front = balancer.url();

    // The REST API, one request at a time, so the replicas take strict turns.
    let email = format!("{}@example.com", unique("replicas"));
    let signed_up = Api::sign_up(&front, &email).await?;
    let api = Api::sign_in(&front, &email).await?;
    assert_eq!(api.session.user.id, signed_up.session.user.id);
    let me = api.client.get(format!("{front}/api/auth/me")).bearer_auth(&api.session.token).send().await?;
    assert_eq!(me.status(), 200, "a token issued by one replica is accepted by the other");
    let created: Task =
        decode(api.call(Method::POST, "/tasks", Some(json!({"title": "Scale out", "tags": ["k8s"]})), 201).await?)?;
    let path = format!("/tasks/{}", created.id);
    let fetched: Task = decode(api.call(Method::GET, &path, None, 200).await?)?;
    assert_eq!(fetched.title, "Scale out");
    let updated: Task = decode(api.call(Method::PATCH, &path, Some(json!({"priority": "high"})), 200).await?)?;
    assert_eq!(updated.priority, api_types::Priority::High);
    let completed: Task =
        decode(api.call(Method::PATCH, &format!("{path}/complete"), Some(json!({"completed": true})), 200).await?)?;
    assert!(completed.completed);
    let page: TaskPage = decode(api.call(Method::GET, "/tasks", None, 200).await?)?;
    assert_eq!((page.total, page.items[0].completed), (1, true));
    api.call(Method::DELETE, &path, None, 204).await?;
    api.call(Method::GET, &path, None, 404).await?;

    // A chat turn with the offline assistant, then the conversation read back (by the other
    // replica: one request each).
    let turn: ChatResponse =
        decode(api.call(Method::POST, "/chat", Some(json!({"message": "add task review the rollout"})), 200).await?)?;
    assert_eq!(turn.tool_calls[0].name, "add_task");
    assert!(turn.tool_calls[0].succeeded(), "{turn:?}");
    let follow_up: ChatResponse = decode(
        api.call(
            Method::POST,
            "/chat",
            Some(json!({"conversation_id": turn.conversation_id, "message": "show all my tasks"})),
            200,
        )
        .await?,
    )?;
    assert!(follow_up.response.contains("review the rollout"), "{}", follow_up.response);
    let conversations: Vec<ConversationSummary> = decode(api.call(Method::GET, "/conversations", None, 200).await?)?;
    assert_eq!(conversations.len(), 1);
    assert_eq!(conversations[0].id, turn.conversation_id);
    let messages: Vec<ChatMessage> =
        decode(api.call(Method::GET, &format!("/conversations/{}/messages", turn.conversation_id), None, 200).await?)?;
    let users: Vec<&str> =
        messages.iter().filter(|m| m.role == MessageRole::User).filter_map(|m| m.content.as_deref()).collect();
    assert_eq!(users, ["add task review the rollout", "show all my tasks"]);

    let rest = balancer.served();
    let upstreams: Vec<usize> = rest.iter().map(|entry| entry.upstream).collect();
    let alternating: Vec<usize> = (0..rest.len()).map(|i| i % 2).collect();
    assert_eq!(upstreams, alternating, "sequential requests alternate: {rest:?}");
    assert_eq!(rest.len(), 14, "every call above went through the balancer: {rest:?}");

    // An MCP session across both replicas: initialize on one, list and call on either.
    mcp_session_across_replicas(&balancer, python.clone(), &format!("{front}/mcp"), &api, "Replicated MCP task")
        .await?;

    // The web image in front of the balancer, as the chart puts it in front of the Service.
    balancer.reset();
    let web = web(&images, &network, &unique("web"), &balancer.url_for_containers())
        .with_host(balancer::HOST_ALIAS, Host::HostGateway)
        .start()
        .await?;
    let site = base_url(&web, 3000).await?;
    let through_web = Api::sign_in(&site, &email).await?;
    let page: TaskPage = decode(through_web.call(Method::GET, "/tasks", None, 200).await?)?;
    assert_eq!(page.total, 2, "the chat's task and the MCP task: {page:?}");
    let turn: ChatResponse = decode(
        through_web.call(Method::POST, "/chat", Some(json!({"message": "add task through the web"})), 200).await?,
    )?;
    assert!(turn.tool_calls[0].succeeded(), "{turn:?}");
    mcp_session_across_replicas(&balancer, python, &format!("{site}/api/mcp"), &api, "MCP through the web").await?;
    let (counts, failed) = tally(&balancer.served(), "/api/");
    assert!(counts[0] > 0 && counts[1] > 0, "requests per replica through the web: {counts:?}");
    assert!(failed.is_empty(), "{failed:?}");
    eprintln!("through the web, requests per replica: {counts:?}");
    Ok(())
}

/// A whole MCP session with the Python SDK at `url`, which must succeed with both replicas
/// answering part of it.
async fn mcp_session_across_replicas(
    balancer: &Balancer,
    python: std::path::PathBuf,
    url: &str,
    api: &Api,
    title: &str,
) -> anyhow::Result<()> {
    let before = balancer.served().len();
    let seen = mcp::run_client(python, url, &api.session.token, title)
        .await
        .with_context(|| format!("an MCP session at {url}; forwarded: {:?}", &balancer.served()[before..]))?;
    assert_eq!(
        seen["tools"],
        json!(["add_task", "complete_task", "delete_task", "list_tasks", "undo_last_change", "update_task"])
    );
    assert_eq!(seen["added_is_error"], false, "{seen}");
    assert_eq!(seen["added"]["task"]["title"], title, "{seen}");
    assert_eq!(seen["listed"]["total"], 1, "{seen}");
    assert_eq!(seen["missing_is_error"], true, "{seen}");
    let session = &balancer.served()[before..];
    let (counts, failed) = tally(session, "");
    assert!(counts[0] > 0 && counts[1] > 0, "MCP requests per replica: {counts:?}");
    assert!(failed.is_empty(), "{failed:?}");
    eprintln!("MCP session at {url}: {session:?}");
    Ok(())
}

/// `DATABASE_MAX_CONNECTIONS` bounds what one replica takes from PostgreSQL, however many
/// requests wait. The test holds a lock on `tasks`, so every request that gets a connection
/// keeps it: the replica's connections stop at the configured number, and the requests that
/// found the pool full give up with 503 when the pool's acquire timeout passes.
#[tokio::test]
async fn a_replica_takes_at_most_database_max_connections_from_postgres() -> anyhow::Result<()> {
    let Some(images) = Images::from_env() else {
        return Ok(());
    };
    const MAX: usize = 3;
    const REQUESTS: usize = 8;
    let network = unique("net");
    let db = unique("db");
    let postgres = start_postgres(&images, &network, &db).await?;
    let url = format!("{}?application_name=replica-max", database_url(&db));
    let replica =
        backend(&images, &network, &unique("replica"), &url).with_env_var("DATABASE_MAX_CONNECTIONS", MAX.to_string());
    let replica = replica.start().await?;
    let base = base_url(&replica, 8000).await?;
    wait_for_status(&format!("{base}/readyz"), 200, Duration::from_secs(30)).await?;
    let api = Api::sign_up(&base, &format!("{}@example.com", unique("pool"))).await?;
    let api = std::sync::Arc::new(api);

    let pool = connect_from_host(&postgres).await?;
    let mut lock = pool.begin().await?;
    sqlx::query("LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE").execute(&mut *lock).await?;
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..REQUESTS {
        let api = api.clone();
        requests.spawn(async move {
            let url = format!("{}/api/{}/tasks", api.base, api.session.user.id);
            api.client.get(url).bearer_auth(&api.session.token).send().await.map(|r| r.status().as_u16())
        });
    }
    let mut early = Vec::new();
    let gave_up = tokio::time::timeout(Duration::from_secs(60), async {
        while early.len() < REQUESTS - MAX {
            match requests.join_next().await {
                Some(status) => early.push(status??),
                None => break,
            }
        }
        anyhow::Ok(())
    })
    .await;
    let connections: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT state, wait_event_type FROM pg_stat_activity WHERE application_name = 'replica-max' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await?;
    lock.commit().await?;
    gave_up.context("the requests beyond the pool never gave up")??;
    assert_eq!(early, vec![503; REQUESTS - MAX], "the requests that found the pool full");
    assert_eq!(connections.len(), MAX, "the replica's connections while {REQUESTS} requests waited: {connections:?}");
    assert!(connections.iter().all(|(_, wait)| wait.as_deref() == Some("Lock")), "{connections:?}");
    let mut late = Vec::new();
    while let Some(status) = requests.join_next().await {
        late.push(status??);
    }
    assert_eq!(late, vec![200; MAX], "the requests that held a connection finish once the lock is gone");
    Ok(())
}

/// Each replica keeps the task-list pages it answered (`TASK_PAGE_CACHE_MIB`, on by default):
/// with requests alternating, every page one replica has cached is read right after the other
/// replica changed the tasks, and must show the change.
#[tokio::test]
async fn a_page_cached_by_one_replica_never_hides_the_others_change() -> anyhow::Result<()> {
    let Some(images) = Images::from_env() else {
        return Ok(());
    };
    // Kept whole: its containers live as long as it does.
    let stack = two_replicas(&images, "cache", |replica| replica).await?;
    let (replicas, balancer) = (&stack.replicas, &stack.balancer);
    let api = Api::sign_up(&balancer.url(), &format!("{}@example.com", unique("cache"))).await?;
    let titles = |page: TaskPage| page.items.into_iter().map(|task| task.title).collect::<Vec<_>>();

    let first: Task = decode(api.call(Method::POST, "/tasks", Some(json!({"title": "one"})), 201).await?)?;
    // Both replicas cache the page, and answer the next request for it from the cache.
    for _ in 0..4 {
        assert_eq!(titles(decode(api.call(Method::GET, "/tasks", None, 200).await?)?), ["one"]);
    }
    let mut expected = vec!["one".to_owned()];
    for step in 0..6 {
        // The change lands on one replica; the next two reads on the other, then on it.
        if step % 2 == 0 {
            let title = format!("added {step}");
            api.call(Method::POST, "/tasks", Some(json!({"title": title})), 201).await?;
            expected.insert(0, title);
        } else {
            let title = format!("renamed {step}");
            api.call(Method::PATCH, &format!("/tasks/{}", first.id), Some(json!({"title": title})), 200).await?;
            *expected.last_mut().context("the first task")? = title;
        }
        for _ in 0..2 {
            assert_eq!(titles(decode(api.call(Method::GET, "/tasks", None, 200).await?)?), expected, "step {step}");
        }
    }
    let served = balancer.served();
    let upstreams: Vec<usize> = served.iter().map(|entry| entry.upstream).collect();
    assert_eq!(upstreams, (0..served.len()).map(|i| i % 2).collect::<Vec<_>>(), "requests alternate: {served:?}");
    for replica in replicas {
        let metrics = reqwest::get(format!("{replica}/metrics")).await?.text().await?;
        let cached = metrics
            .lines()
            .find(|line| line.starts_with("task_list_pages_total{answer=\"cached\"}"))
            .and_then(|line| line.rsplit(' ').next()?.parse::<u64>().ok());
        assert!(cached.is_some_and(|hits| hits >= 1), "{replica} answered from its cache:\n{metrics}");
    }
    Ok(())
}
