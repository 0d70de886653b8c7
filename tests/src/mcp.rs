//! The official MCP Python SDK as the client of an image under test (`tests/mcp/client.py`).

use anyhow::{Context, bail};
use serde_json::Value;
use std::{path::PathBuf, process::Command};

/// The Python that has the `mcp` package (`MCP_PYTHON`, else the project's `.tools/venv`).
/// Missing in CI is a failure; elsewhere a loud skip.
pub fn python() -> Option<PathBuf> {
    let candidate = std::env::var_os("MCP_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/venv/bin/python"));
    let works = Command::new(&candidate).args(["-c", "import mcp"]).output().is_ok_and(|out| out.status.success());
    if works {
        return Some(candidate);
    }
    if std::env::var_os("CI").is_some() {
        panic!("{} cannot import mcp in CI: scripts/install-host-deps.sh installs it", candidate.display());
    }
    eprintln!(
        "\n!!! SKIPPED: no Python with the `mcp` package ({}); run scripts/install-host-deps.sh\n",
        candidate.display()
    );
    None
}

/// One whole client session against `url`: initialize, list the tools, `add_task` with
/// `title`, `list_tasks` searching for it, `delete_task` of a missing id. What it saw, as JSON.
pub async fn run_client(python: PathBuf, url: &str, token: &str, title: &str) -> anyhow::Result<Value> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("mcp/client.py");
    let args = [url.to_owned(), token.to_owned(), title.to_owned()];
    let output = tokio::task::spawn_blocking(move || Command::new(python).arg(script).args(args).output())
        .await?
        .context("running the MCP client")?;
    if !output.status.success() {
        bail!("the MCP client failed: {}", String::from_utf8_lossy(&output.stderr).trim());
    }
    serde_json::from_slice(&output.stdout).context("the MCP client's output")
}
