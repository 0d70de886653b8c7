//! The local stack exactly as `just up` runs it: docker-compose.yml with a user's `.env` that
//! configures a model, the release images, `up --wait`. The chat must reach the model through
//! compose's wiring, and every `.env` setting must reach its container.

use fake_model::FakeModel;
use image_tests::*;
use serde_json::{Value, json};
use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    time::Duration,
};

/// One compose project on a `.env` of its own; `down -v` when dropped.
struct Project {
    name: String,
    root: PathBuf,
    env_file: PathBuf,
    variables: Vec<String>,
    images: Images,
}

impl Project {
    fn new(images: &Images, env: &[(&str, String)]) -> anyhow::Result<Self> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize()?;
        let name = unique("compose-test");
        let env_file = std::env::temp_dir().join(format!("{name}.env"));
        let text: String = env.iter().map(|(key, value)| format!("{key}={value}\n")).collect();
        std::fs::write(&env_file, text)?;
        let variables = env.iter().map(|(key, _)| (*key).to_owned()).collect();
        Ok(Self { name, root, env_file, variables, images: images.clone() })
    }

    /// `docker compose …` as a user runs it from the checkout, the `.env` being the only source
    /// of these settings: the test's own environment (where `just` exports `WEB_PORT`, say)
    /// would otherwise win over the file.
    fn compose(&self, args: &[&str]) -> anyhow::Result<Output> {
        let mut command = Command::new("docker");
        command
            .arg("compose")
            .arg("--project-directory")
            .arg(&self.root)
            .arg("--file")
            .arg(self.root.join("docker-compose.yml"))
            .arg("--project-name")
            .arg(&self.name)
            .arg("--env-file")
            .arg(&self.env_file)
            .args(args)
            .env("BACKEND_IMAGE", &self.images.backend)
            .env("WEB_IMAGE", &self.images.web)
            .env("POSTGRES_IMAGE", &self.images.postgres);
        for variable in &self.variables {
            command.env_remove(variable);
        }
        Ok(command.output()?)
    }

    fn compose_ok(&self, args: &[&str]) -> anyhow::Result<String> {
        let output = self.compose(args)?;
        anyhow::ensure!(
            output.status.success(),
            "docker compose {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(String::from_utf8(output.stdout)?)
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Ok(logs) = self.compose(&["logs", "--no-color", "--tail", "50"])
        {
            eprintln!("compose logs:\n{}", String::from_utf8_lossy(&logs.stdout));
        }
        let _ = self.compose(&["down", "--volumes", "--remove-orphans", "--timeout", "5"]);
        let _ = std::fs::remove_file(&self.env_file);
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

#[tokio::test]
async fn compose_with_a_model_in_dot_env_gives_a_healthy_stack_whose_chat_calls_the_model() -> anyhow::Result<()> {
    let Some(images) = Images::from_env() else {
        return Ok(());
    };
    let fake = FakeModel::start().await;
    fake.then_tools(&[("call_compose", "add_task", json!({"title": "water the plants", "priority": "high"}))])
        .then_text("Added water the plants.");
    let web_port = free_port()?;
    let project = Project::new(
        &images,
        &[
            ("WEB_PORT", web_port.to_string()),
            ("POSTGRES_USER", "composer".to_owned()),
            ("POSTGRES_PASSWORD", "compose-test-password".to_owned()),
            ("POSTGRES_DB", "compose_tasks".to_owned()),
            ("BETTER_AUTH_SECRET", "compose-test-secret-0123456789abcdef".to_owned()),
            ("OPENAI_API_KEY", "sk-compose-test".to_owned()),
            ("OPENAI_BASE_URL", fake.base_url_for_containers()),
            ("OPENAI_MODEL", "compose-model".to_owned()),
            ("RUST_LOG", "info".to_owned()),
            ("AUTH_RATE_LIMIT_PER_MINUTE", "3".to_owned()),
        ],
    )?;
    // `just up`'s command.
    project.compose_ok(&["up", "--detach", "--wait", "--wait-timeout", "120"])?;

    let url = format!("http://127.0.0.1:{web_port}");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
    let auth: api_types::AuthResponse = http
        .post(format!("{url}/api/auth/sign-up"))
        .json(&json!({"email": "compose@example.com", "password": "correct horse battery", "name": "Compose"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let info: api_types::ServiceInfo = http.get(format!("{url}/api/info")).send().await?.json().await?;
    assert_eq!(info.model.as_deref(), Some("compose-model"), "{info:?}");

    let chat = http
        .post(format!("{url}/api/{}/chat", auth.user.id))
        .bearer_auth(&auth.token)
        .json(&json!({"message": "remind me to water the plants"}))
        .send()
        .await?;
    assert_eq!(chat.status(), 200);
    let answer: Value = chat.json().await?;
    assert_eq!(answer["response"], "Added water the plants.", "{answer}");
    assert_eq!(answer["tool_calls"][0]["name"], "add_task", "{answer}");

    // The model saw what .env configured, over compose's host-gateway entry.
    let requests = fake.requests();
    assert_eq!(requests.len(), 2, "a tool round and the answer: {requests:?}");
    assert!(fake.rejections().is_empty(), "{:?}", fake.rejections());
    for request in &requests {
        assert_eq!(request.body["model"], "compose-model");
        assert_eq!(request.authorization.as_deref(), Some("Bearer sk-compose-test"));
    }

    // The task is in the database .env named, owned by the user .env named.
    let stored = project.compose_ok(&[
        "exec",
        "-T",
        "postgres",
        "psql",
        "--username",
        "composer",
        "--dbname",
        "compose_tasks",
        "--tuples-only",
        "--no-align",
        "--command",
        "SELECT title || '|' || priority FROM tasks",
    ])?;
    assert_eq!(stored.trim(), "water the plants|high");

    // Compose's TRUSTED_PROXY_HOPS=1 counts the address web appends, not what a client forges:
    // the sign-up was the first of AUTH_RATE_LIMIT_PER_MINUTE=3 attempts from this host.
    let mut statuses = Vec::new();
    for forged in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        let response = http
            .post(format!("{url}/api/auth/sign-in"))
            .header("x-forwarded-for", forged)
            .json(&json!({"email": "compose@example.com", "password": "wrong password"}))
            .send()
            .await?;
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 429], "one address behind compose's web, whatever it forged");

    // Compose runs the images as the chart does.
    for (service, user) in [("backend", "1000:1000"), ("web", "1001:1001")] {
        let id = project.compose_ok(&["ps", "--quiet", service])?;
        let settings = docker(&[
            "inspect",
            "-f",
            "{{.Config.User}} {{.HostConfig.ReadonlyRootfs}} {{.State.Health.Status}}",
            id.trim(),
        ])?;
        assert_eq!(settings.trim(), format!("{user} true healthy"), "{service}");
    }
    Ok(())
}
