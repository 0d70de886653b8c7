//! The model configurations users set, for the image tests: the stack (postgres, backend,
//! web images) with `OPENAI_*` pointing at a model server on this host, a client that talks to
//! it through the web image as a browser does, and a real llama.cpp server from `.tools/llm`.

use crate::{Images, backend, base_url, start_postgres, unique, wait_for_status, web};
use anyhow::{Context, bail};
use api_types::{AuthResponse, ChatMessage, ConversationSummary, Task, TaskPage};
use serde_json::{Value, json};
use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};
use testcontainers::{
    ContainerAsync, ContainerRequest, GenericImage, ImageExt,
    core::{AccessMode, Host, Mount},
    runners::AsyncRunner,
};

/// The backend image configured for a model at `base_url` (reached from the container through
/// `host.docker.internal`, as Docker Desktop and compose's `host-gateway` offer it).
pub fn with_model(request: ContainerRequest<GenericImage>, base_url: &str) -> ContainerRequest<GenericImage> {
    request
        .with_host(fake_model::CONTAINER_HOST, Host::HostGateway)
        .with_env_var("OPENAI_API_KEY", "sk-image-test")
        .with_env_var("OPENAI_BASE_URL", base_url)
}

/// A file from the host, mounted read-only (a CA bundle, as a Kubernetes Secret would be).
pub fn read_only_file(host: &std::path::Path, container: &str) -> Mount {
    Mount::bind_mount(host.display().to_string(), container).with_access_mode(AccessMode::ReadOnly)
}

/// postgres, backend and web images on one network; dropped together.
#[derive(Debug)]
pub struct Stack {
    pub web_url: String,
    pub backend_id: String,
    _web: ContainerAsync<GenericImage>,
    _backend: ContainerAsync<GenericImage>,
    _postgres: ContainerAsync<GenericImage>,
}

impl Stack {
    /// Starts the stack; `configure` adds the model settings to the backend container, and
    /// `web_env` sets variables of the web container.
    pub async fn start(
        images: &Images,
        configure: impl FnOnce(ContainerRequest<GenericImage>) -> ContainerRequest<GenericImage>,
        web_env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let network = unique("net");
        let db = unique("db");
        let backend_name = unique("backend");
        let postgres = start_postgres(images, &network, &db).await?;
        let backend = configure(backend(images, &network, &backend_name, &crate::database_url(&db)))
            .start()
            .await
            .context("starting the backend with a model configured")?;
        let backend_url = base_url(&backend, 8000).await?;
        wait_for_status(&format!("{backend_url}/readyz"), 200, Duration::from_secs(60)).await?;
        let web = web_env
            .iter()
            .fold(web(images, &network, &unique("web"), &format!("http://{backend_name}:8000")), |request, (k, v)| {
                request.with_env_var(*k, *v)
            })
            .start()
            .await?;
        let web_url = base_url(&web, 3000).await?;
        Ok(Self { web_url, backend_id: backend.id().to_owned(), _web: web, _backend: backend, _postgres: postgres })
    }

    /// The backend's log so far, for failure messages.
    pub async fn backend_log(&self) -> String {
        crate::docker(&["logs", &self.backend_id]).unwrap_or_default()
    }
}

/// A signed-up user talking to the API through the web image's `/api` proxy.
pub struct Person {
    base: String,
    pub id: String,
    token: String,
    http: reqwest::Client,
}

// Hand-written: the token stays out of failure messages.
impl std::fmt::Debug for Person {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Person").field("base", &self.base).field("id", &self.id).finish_non_exhaustive()
    }
}

/// A chat answer: its status and JSON body (`null` when the body is not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Person {
    pub async fn sign_up(stack: &Stack) -> anyhow::Result<Self> {
        // Long enough for a real model's three rounds on two busy cores.
        let http = reqwest::Client::builder().timeout(Duration::from_secs(900)).build()?;
        let email = format!("{}@example.com", unique("model"));
        let response = http
            .post(format!("{}/api/auth/sign-up", stack.web_url))
            .json(&json!({"email": email, "password": "correct horse battery staple", "name": "Model Test"}))
            .send()
            .await?;
        if response.status() != 201 {
            bail!("sign-up answered {}: {}", response.status(), response.text().await?);
        }
        let auth: AuthResponse = response.json().await?;
        Ok(Self { base: stack.web_url.clone(), id: auth.user.id, token: auth.token, http })
    }

    pub async fn chat(&self, conversation: Option<&str>, message: &str) -> anyhow::Result<Answer> {
        let response = self
            .http
            .post(format!("{}/api/{}/chat", self.base, self.id))
            .bearer_auth(&self.token)
            .json(&json!({"conversation_id": conversation, "message": message}))
            .send()
            .await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        Ok(Answer { status, body: serde_json::from_str(&text).unwrap_or(Value::Null) })
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let response = self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.token).send().await?;
        if !response.status().is_success() {
            bail!("GET {path} answered {}: {}", response.status(), response.text().await?);
        }
        Ok(response.json().await?)
    }

    /// Creates a task through the REST API (`body` is a `NewTask`), as the task list does.
    pub async fn create_task(&self, body: &Value) -> anyhow::Result<Task> {
        let path = format!("/api/{}/tasks", self.id);
        let response =
            self.http.post(format!("{}{path}", self.base)).bearer_auth(&self.token).json(body).send().await?;
        if response.status() != 201 {
            bail!("POST {path} answered {}: {}", response.status(), response.text().await?);
        }
        Ok(response.json().await?)
    }

    /// Ticks (or unticks) a task through the REST API, as its checkbox does.
    pub async fn set_completed(&self, task: i64, completed: bool) -> anyhow::Result<Task> {
        let path = format!("/api/{}/tasks/{task}/complete", self.id);
        let response = self
            .http
            .patch(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&json!({"completed": completed}))
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("PATCH {path} answered {}: {}", response.status(), response.text().await?);
        }
        Ok(response.json().await?)
    }

    pub async fn tasks(&self) -> anyhow::Result<Vec<Task>> {
        Ok(self.get::<TaskPage>(&format!("/api/{}/tasks", self.id)).await?.items)
    }

    pub async fn conversations(&self) -> anyhow::Result<Vec<ConversationSummary>> {
        self.get(&format!("/api/{}/conversations", self.id)).await
    }

    pub async fn messages(&self, conversation: &str) -> anyhow::Result<Vec<ChatMessage>> {
        self.get(&format!("/api/{}/conversations/{conversation}/messages", self.id)).await
    }
}

/// llama-cpp-python's OpenAI-compatible server with the SmolLM2 135M model, installed by
/// `scripts/install-llm.sh`, on a free port of every interface; killed when dropped.
#[derive(Debug)]
pub struct LlamaServer {
    pub port: u16,
    child: Child,
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl LlamaServer {
    /// Starts the server and waits until it answers. Missing `.tools/llm` is a failure in CI and
    /// a loud skip elsewhere.
    pub async fn start() -> anyhow::Result<Option<Self>> {
        let tools = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/llm");
        let python = tools.join("bin/python");
        let model = tools.join("model.gguf");
        if !python.exists() || !model.exists() {
            if std::env::var_os("CI").is_some() {
                bail!(
                    "{} is not installed in CI: scripts/install-host-deps.sh runs scripts/install-llm.sh",
                    tools.display()
                );
            }
            eprintln!(
                "\n!!! SKIPPED: no real model server in {}.\n!!! Run scripts/install-llm.sh (about 5 minutes the first time).\n",
                tools.display()
            );
            return Ok(None);
        }
        let port = std::net::TcpListener::bind("0.0.0.0:0")?.local_addr()?.port();
        let log = std::fs::File::create(std::env::temp_dir().join(format!("llama-server-{port}.log")))?;
        let child = Command::new(&python)
            .args(["-m", "llama_cpp.server", "--model"])
            .arg(&model)
            .args(["--host", "0.0.0.0", "--port", &port.to_string(), "--chat_format", "chatml-function-calling"])
            // SmolLM2's trained context. The server's default, 2048 tokens, is spent by the
            // system prompt, five tool schemas and two turns of history: the third turn was a
            // 400 "maximum context length" (a 502 from us), which is not what this test is about.
            .args(["--n_ctx", "8192"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting llama_cpp.server")?;
        let server = Self { port, child };
        wait_for_status(&format!("http://127.0.0.1:{port}/v1/models"), 200, Duration::from_secs(120)).await?;
        Ok(Some(server))
    }

    /// Its base URL as the backend container reaches it.
    pub fn base_url_for_containers(&self) -> String {
        format!("http://{}:{}/v1", fake_model::CONTAINER_HOST, self.port)
    }
}
