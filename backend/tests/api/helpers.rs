use backend::{config::Config, startup::Application};
use sqlx::{Connection, Executor, PgConnection, PgPool, postgres::PgConnectOptions};
use std::{str::FromStr, time::Duration};
use tokio::sync::oneshot;

/// A running backend on its own database, stopped when dropped.
pub struct TestApp {
    pub address: String,
    pub pool: PgPool,
    pub client: reqwest::Client,
    /// The clock the app checks tokens against; tests move it forward.
    pub clock: backend::auth::Clock,
    stop: Option<oneshot::Sender<()>>,
    pub stopped: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(format!("{}{path}", self.address)).send().await.expect("request failed")
    }

    /// Sends the shutdown signal the way SIGTERM would.
    pub fn signal_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A signed-up user of a test app.
pub struct TestUser {
    pub id: String,
    pub email: String,
    pub password: String,
    pub token: String,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// A request with the user's bearer token.
    pub fn authed(&self, method: reqwest::Method, path: &str, user: &TestUser) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path)).bearer_auth(&user.token)
    }

    /// Sends a request with the user's token and an optional JSON body, expects a 2xx answer
    /// and decodes it.
    pub async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        user: &TestUser,
        body: Option<&serde_json::Value>,
    ) -> T {
        let mut request = self.authed(method.clone(), path, user);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("request failed");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert!(status.is_success(), "{method} {path} answered {status}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|error| panic!("{method} {path}: {error} in {text}"))
    }

    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.client.post(self.url(path)).json(body).send().await.expect("request failed")
    }

    /// Signs up a new user with a unique email.
    pub async fn sign_up(&self) -> TestUser {
        let email = format!("user-{}@example.com", uuid::Uuid::new_v4().simple());
        let password = "correct horse battery staple".to_owned();
        let response = self
            .post_json(
                "/api/auth/sign-up",
                &serde_json::json!({"email": email, "password": password, "name": "Test User"}),
            )
            .await;
        assert_eq!(response.status(), 201, "sign-up failed");
        let body: api_types::AuthResponse = response.json().await.unwrap();
        TestUser { id: body.user.id, email, password, token: body.token }
    }

    /// Creates a task for `user` from a JSON body and returns it.
    pub async fn create_task(&self, user: &TestUser, body: serde_json::Value) -> api_types::Task {
        let response = self
            .authed(reqwest::Method::POST, &format!("/api/{}/tasks", user.id), user)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "creating {body} failed: {}", response.text().await.unwrap_or_default());
        response.json().await.unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.signal_shutdown();
    }
}

/// The server that `TEST_DATABASE_URL` points to. Without it the tests cannot run: in CI that
/// is a failure, elsewhere a loud skip.
pub fn test_database_url() -> Option<String> {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("TEST_DATABASE_URL is not set in CI: run the tests through `just test`")
        }
        _ => {
            eprintln!(
                "\n!!! SKIPPED: TEST_DATABASE_URL is not set, so this test cannot reach PostgreSQL.\n\
                 !!! Run `just test`, which starts a throwaway database, or set it yourself.\n"
            );
            None
        }
    }
}

/// Creates an empty database for one test and returns its connection options.
pub async fn fresh_database() -> Option<PgConnectOptions> {
    let server = PgConnectOptions::from_str(&test_database_url()?).expect("TEST_DATABASE_URL is not a PostgreSQL URL");
    let name = format!("test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect_with(&server).await.expect("cannot reach TEST_DATABASE_URL");
    admin.execute(format!(r#"CREATE DATABASE "{name}""#).as_str()).await.expect("CREATE DATABASE failed");
    Some(server.database(&name))
}

pub fn config_for(database: PgConnectOptions) -> Config {
    Config {
        host: [127, 0, 0, 1].into(),
        port: 0,
        database,
        database_max_connections: 5,
        migrate_on_start: true,
        shutdown_delay: Duration::ZERO,
        token_secret: TEST_SECRET.to_vec(),
        token_ttl: Duration::from_secs(3600),
        session_max_lifetime: Duration::from_secs(2 * 3600),
        cors_origins: vec!["https://allowed.example".to_owned()],
        auth_rate_limit_per_minute: std::num::NonZeroU32::new(1000).unwrap(),
        auth_failures_per_account: std::num::NonZeroU32::new(1000).unwrap(),
        auth_failure_window: Duration::from_secs(900),
        password_hash_concurrency: std::num::NonZeroUsize::new(2).unwrap(),
        trusted_proxy_hops: 1,
        request_timeout: Duration::from_secs(30),
        model: None,
        chat_max_tool_rounds: 5,
        chat_history_messages: 40,
        chat_timeout: Duration::from_secs(60),
        chat_max_tool_calls_per_reply: std::num::NonZeroUsize::new(8).unwrap(),
        chat_max_destructive_calls_per_turn: 3,
        chat_rate_limit_per_minute: std::num::NonZeroU32::new(1000).unwrap(),
        undo_window: Duration::from_secs(24 * 3600),
        task_page_cache_bytes: 8 << 20,
    }
}

pub const TEST_SECRET: &[u8] = b"test-secret-that-is-long-enough-for-hs256";

/// The MAC of a hand-made token: the server takes HS256 alone, and a test shows it refuses another.
#[derive(Debug, Clone, Copy)]
pub enum Hmac {
    Sha256,
    Sha512,
}

/// A JWT signed here, independently of the server's own signing code.
pub fn forged(claims: serde_json::Value, key: &[u8], mac: Hmac) -> String {
    use hmac::Mac;
    let alg = match mac {
        Hmac::Sha256 => "HS256",
        Hmac::Sha512 => "HS512",
    };
    let header = serde_json::json!({"alg": alg, "typ": "JWT"});
    let message = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    let tag = match mac {
        Hmac::Sha256 => {
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
            mac.update(message.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        Hmac::Sha512 => {
            let mut mac = hmac::Hmac::<sha2::Sha512>::new_from_slice(key).unwrap();
            mac.update(message.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
    };
    format!("{message}.{}", b64(&tag))
}

/// base64url without padding, for hand-made tokens.
pub fn b64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Starts the application on a fresh database and waits until it is ready.
pub async fn spawn_app() -> Option<TestApp> {
    spawn_app_configured(|_| {}).await
}

/// `spawn_app` with `configure` applied to the test configuration first.
pub async fn spawn_app_configured(configure: impl FnOnce(&mut Config)) -> Option<TestApp> {
    let mut config = config_for(fresh_database().await?);
    configure(&mut config);
    let app = spawn_app_with(config).await;
    app.wait_until_ready().await;
    Some(app)
}

/// Starts the application as configured, without waiting for readiness.
pub async fn spawn_app_with(config: Config) -> TestApp {
    backend::install_crypto_provider();
    let pool = backend::db::lazy_pool(&config);
    let application = Application::build(config).await.expect("failed to build the application");
    let address = format!("http://127.0.0.1:{}", application.port());
    let clock = application.state().tokens.clock().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(application.run_until_stopped(stopped));
    TestApp { address, pool, client: reqwest::Client::new(), clock, stop: Some(stop), stopped: Some(handle) }
}

impl TestApp {
    pub async fn wait_until_ready(&self) {
        for _ in 0..100 {
            if self.get("/readyz").await.status() == 200 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the backend did not become ready within 10 s");
    }
}
