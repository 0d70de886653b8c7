//! Renders `helm/todo-chatbot` with the real `helm` binary and gives the tests the parsed
//! objects. helm is found on PATH or in `.tools/bin` (scripts/install-chart-tools.sh); without
//! it the tests panic when `CI` is set and skip loudly elsewhere.

pub mod runbook;
pub mod values_doc;

use serde_yaml::Value;
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
};

/// The release name and namespace every test renders with (the same as `just deploy`).
pub const RELEASE: &str = "todo-chatbot";
pub const NAMESPACE: &str = "todo-chatbot";

/// Distinctive secret values: they must reach the Secret and nothing else.
pub const DATABASE_PASSWORD_MARKER: &str = "db-password-marker-7f3a";
pub const AUTH_SECRET_MARKER: &str = "auth-secret-marker-0123456789abcdef0123456789";
pub const OPENAI_KEY_MARKER: &str = "sk-openai-marker-5c1e";
pub const POSTGRES_PASSWORD_MARKER: &str = "pg-password-marker-91b2";

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("chart-tests lives in the workspace").to_path_buf()
}

pub fn chart_dir() -> PathBuf {
    root().join("helm/todo-chatbot")
}

/// A missing tool or input: a failure in CI, a loud skip elsewhere. Returns None to skip.
pub fn require<T>(found: Option<T>, what: &str, how: &str) -> Option<T> {
    if found.is_some() {
        return found;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{what} is required in CI: {how}");
    }
    eprintln!("\n!!! SKIPPED: {what} is missing, so this chart test cannot run.\n!!! {how}\n");
    None
}

/// The helm binary.
#[derive(Debug, Clone)]
pub struct Helm {
    pub path: PathBuf,
}

impl Helm {
    /// helm from PATH or `.tools/bin`; None (after a loud message) when absent outside CI.
    pub fn find() -> Option<Self> {
        let tools = root().join(".tools/bin/helm");
        let on_path = std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths).map(|dir| dir.join("helm")).find(|candidate| candidate.is_file())
        });
        let found = on_path.or_else(|| tools.is_file().then_some(tools)).map(|path| Self { path });
        require(found, "the helm binary", "run scripts/install-chart-tools.sh (it installs helm into .tools/bin)")
    }

    /// `helm <args>`: Ok(stdout) or Err(stderr).
    pub fn run(&self, args: &[&str]) -> Result<String, String> {
        let output = Command::new(&self.path).args(args).current_dir(root()).output().expect("helm runs");
        if output.status.success() {
            Ok(String::from_utf8(output.stdout).expect("helm prints UTF-8"))
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }

    /// `helm template` of the chart with a values file (relative to the repository root, or
    /// None for values.yaml alone) and `--set` pairs.
    pub fn template(&self, values: Option<&str>, sets: &[&str]) -> Result<Rendered, String> {
        let chart = chart_dir();
        let mut args = vec!["template", RELEASE, chart.to_str().expect("UTF-8 path"), "--namespace", NAMESPACE];
        if let Some(values) = values {
            args.extend(["--values", values]);
        }
        for set in sets {
            // Image tags such as 15 or a numeric revision must stay strings (as deploy.sh does).
            let key = set.split_once('=').map_or(*set, |(key, _)| key);
            let flag = if key.ends_with(".tag") { "--set-string" } else { "--set" };
            args.extend([flag, set]);
        }
        self.run(&args).map(|yaml| Rendered::parse(&yaml))
    }

    /// Like [`Helm::template`] for a render that must succeed.
    pub fn render(&self, scenario: &Scenario) -> Rendered {
        self.template(scenario.values, &scenario.sets)
            .unwrap_or_else(|error| panic!("{}: helm template failed: {error}", scenario.name))
    }
}

/// A values file plus `--set` pairs: one way a user installs the chart.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: &'static str,
    pub values: Option<&'static str>,
    pub sets: Vec<&'static str>,
}

/// Every shipped values file, with the secrets a user would pass where the file needs them.
pub fn scenarios() -> Vec<Scenario> {
    let database_url: &'static str = Box::leak(
        format!("secrets.databaseUrl=postgres://todo:{DATABASE_PASSWORD_MARKER}@db.example.com:5432/todo")
            .into_boxed_str(),
    );
    let auth: &'static str = Box::leak(format!("secrets.betterAuthSecret={AUTH_SECRET_MARKER}").into_boxed_str());
    let openai: &'static str = Box::leak(format!("secrets.openaiApiKey={OPENAI_KEY_MARKER}").into_boxed_str());
    let postgres: &'static str =
        Box::leak(format!("postgres.auth.password={POSTGRES_PASSWORD_MARKER}").into_boxed_str());
    vec![
        Scenario { name: "values.yaml", values: None, sets: vec![database_url, auth, openai] },
        Scenario {
            name: "values-dev.yaml",
            values: Some("helm/todo-chatbot/values-dev.yaml"),
            sets: vec![auth, openai, postgres],
        },
        Scenario { name: "values-staging.yaml", values: Some("helm/todo-chatbot/values-staging.yaml"), sets: vec![] },
        Scenario { name: "values-prod.yaml", values: Some("helm/todo-chatbot/values-prod.yaml"), sets: vec![] },
        Scenario { name: "k8s/values.yaml", values: Some("k8s/values.yaml"), sets: vec![] },
    ]
}

/// The objects of one render.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub objects: Vec<Value>,
}

impl Rendered {
    pub fn parse(yaml: &str) -> Self {
        let objects = serde_yaml::Deserializer::from_str(yaml)
            .map(|document| {
                use serde::Deserialize;
                Value::deserialize(document).expect("helm renders valid YAML")
            })
            .filter(|value| !value.is_null())
            .collect();
        Self { objects }
    }

    pub fn of_kind<'a>(&'a self, kind: &str) -> impl Iterator<Item = &'a Value> + 'a {
        let kind = kind.to_owned();
        self.objects.iter().filter(move |object| object["kind"] == kind.as_str())
    }

    /// The one object of that kind and name; panics when absent.
    pub fn get(&self, kind: &str, name: &str) -> &Value {
        self.find(kind, name).unwrap_or_else(|| panic!("no {kind} {name} rendered"))
    }

    pub fn find(&self, kind: &str, name: &str) -> Option<&Value> {
        self.objects.iter().find(|object| object["kind"] == kind && object["metadata"]["name"] == name)
    }

    /// (kind/name, pod template) of every Deployment, StatefulSet and Job, and every Pod (the
    /// `helm test` hooks), whose metadata and spec are shaped like a template's.
    pub fn pod_templates(&self) -> Vec<(String, &Value)> {
        self.objects
            .iter()
            .filter_map(|object| match object["kind"].as_str() {
                Some("Deployment" | "StatefulSet" | "Job") => Some((id(object), &object["spec"]["template"])),
                Some("Pod") => Some((id(object), object)),
                _ => None,
            })
            .collect()
    }

    /// A container's non-secret environment as the kubelet builds it: envFrom ConfigMaps, then
    /// env entries with a value or a configMapKeyRef (Secret references are left out).
    pub fn config_env(&self, container: &Value) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        for source in container["envFrom"].as_sequence().into_iter().flatten() {
            env.extend(self.config_map(source["configMapRef"]["name"].as_str().expect("configMapRef")));
        }
        for variable in container["env"].as_sequence().into_iter().flatten() {
            let name = variable["name"].as_str().expect("env name").to_owned();
            if let Some(value) = variable["value"].as_str() {
                env.insert(name, value.to_owned());
            } else if let Some(reference) = variable["valueFrom"]["configMapKeyRef"].as_mapping() {
                let config = self.config_map(reference["name"].as_str().expect("configMapKeyRef name"));
                let key = reference["key"].as_str().expect("configMapKeyRef key");
                let value = config.get(key).unwrap_or_else(|| panic!("{name}: ConfigMap has no key {key}"));
                env.insert(name, value.clone());
            }
        }
        env
    }

    /// The first container of a workload's pods.
    pub fn container(&self, kind: &str, name: &str) -> &Value {
        &self.get(kind, name)["spec"]["template"]["spec"]["containers"][0]
    }

    /// The base64-decoded data of the rendered Secret with that name.
    pub fn secret_data(&self, name: &str) -> BTreeMap<String, String> {
        mapping(&self.get("Secret", name)["data"])
            .into_iter()
            .map(|(key, value)| (key, decode_base64(&value)))
            .collect()
    }

    /// The data of the rendered ConfigMap with that name.
    pub fn config_map(&self, name: &str) -> BTreeMap<String, String> {
        mapping(&self.get("ConfigMap", name)["data"])
    }
}

/// "Kind/name" of an object, for messages.
pub fn id(object: &Value) -> String {
    format!("{}/{}", object["kind"].as_str().unwrap_or("?"), object["metadata"]["name"].as_str().unwrap_or("?"))
}

/// A YAML mapping of strings (labels, data, selectors) as a sorted map.
pub fn mapping(value: &Value) -> BTreeMap<String, String> {
    value
        .as_mapping()
        .map(|map| {
            map.iter()
                .map(|(key, value)| {
                    let value = match value {
                        Value::String(text) => text.clone(),
                        other => serde_yaml::to_string(other).expect("scalar").trim().to_owned(),
                    };
                    (key.as_str().expect("string key").to_owned(), value)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a matchLabels selector selects an object with these labels.
pub fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(key, value)| labels.get(key) == Some(value))
}

pub fn decode_base64(text: &str) -> String {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD.decode(text).expect("valid base64 in a Secret");
    String::from_utf8(bytes).expect("UTF-8 secret value")
}

/// A Kubernetes memory quantity in bytes ("64Mi", "1Gi", "128974848").
pub fn memory_bytes(quantity: &str) -> u64 {
    let units =
        [("Ki", 1u64 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30), ("k", 1_000), ("M", 1_000_000), ("G", 1_000_000_000)];
    for (suffix, factor) in units {
        if let Some(number) = quantity.strip_suffix(suffix) {
            return number.parse::<u64>().expect("integer quantity") * factor;
        }
    }
    quantity.parse().expect("plain byte count")
}

/// The workspace version: Cargo.toml's [workspace.package] version.
pub fn workspace_version() -> String {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).expect("Cargo.toml");
    let mut in_package = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[workspace.package]";
        } else if in_package && let Some(rest) = line.strip_prefix("version") {
            let value = rest.trim_start().trim_start_matches('=').trim();
            return value.trim_matches('"').to_owned();
        }
    }
    panic!("no version in [workspace.package] of Cargo.toml");
}
