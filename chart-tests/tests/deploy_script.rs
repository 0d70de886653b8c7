//! The contract of scripts/deploy.sh: the script runs in a copy of the repository (no `.tools/`)
//! with stub `kubectl`, `helm`, `minikube`, `kind` and `docker` first on PATH
//! (chart-tests/deploy-stubs), which record every call and hold what a cluster and Docker would
//! hold. The stub helm renders each upgrade with the real helm, so the objects a deploy would
//! apply are checked too. Only the system tools the script needs are on PATH besides the stubs.
//! `DEPLOY_SCRIPT_UNDER_TEST` runs another version of the script (e.g. main's, to see it fail).
//!
//! The last test starts our PostgreSQL image with Docker on one volume across
//! `just deploy`, `just undeploy`, `just deploy`: the database must accept the second password.

use chart_tests::*;
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

const BACKEND: &str = "todo-chatbot/backend:0123456789ab";
const WEB: &str = "todo-chatbot/web:0123456789ab";
const POSTGRES: &str = "todo-chatbot/postgres:15";
const SECRET: &str = "todo-chatbot-secrets";
/// What the system offers the script and the stubs; anything else is missing on purpose.
const SYSTEM_TOOLS: &[&str] = &[
    "bash", "env", "sed", "grep", "tr", "od", "mktemp", "base64", "tail", "head", "cat", "rm", "mkdir", "cp",
    "dirname", "basename", "sort",
];

/// The real kubectl (for kustomize): PATH or `.tools/bin`.
fn real_kubectl() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|dir| dir.join("kubectl")).find(|path| path.is_file()));
    let tools = root().join(".tools/bin/kubectl");
    let found = on_path.or_else(|| tools.is_file().then_some(tools));
    require(found, "the kubectl binary", "run scripts/install-chart-tools.sh (it installs kubectl into .tools/bin)")
}

fn which(tool: &str) -> PathBuf {
    ["/usr/bin", "/bin", "/usr/local/bin"]
        .iter()
        .map(|dir| Path::new(dir).join(tool))
        .find(|path| path.is_file())
        .unwrap_or_else(|| panic!("the system tool {tool} is missing"))
}

fn sh(program: &str, args: &[&str]) {
    let status = Command::new(program).args(args).status().unwrap_or_else(|error| panic!("{program}: {error}"));
    assert!(status.success(), "{program} {args:?} failed");
}

/// A copy of the repository's deploy inputs, stubs and their state, removed when dropped.
#[derive(Debug)]
struct Sandbox {
    base: PathBuf,
    root: PathBuf,
    state: PathBuf,
    stubs: PathBuf,
    log: PathBuf,
    env: BTreeMap<String, String>,
}

#[derive(Debug)]
struct Outcome {
    success: bool,
    output: String,
    calls: Vec<Vec<String>>,
}

impl Outcome {
    fn calls_of(&self, tool: &str) -> Vec<&Vec<String>> {
        self.calls.iter().filter(|call| call[0] == tool).collect()
    }

    /// The args of `helm upgrade`, if the script got that far.
    fn helm_upgrade(&self) -> Option<&Vec<String>> {
        self.calls.iter().find(|call| call[0] == "helm" && call.get(1).is_some_and(|verb| verb == "upgrade"))
    }

    fn shipped(&self) -> usize {
        self.calls
            .iter()
            .filter(|call| {
                matches!(call[0].as_str(), "minikube" | "kind") || (call[0] == "docker" && call[1] == "push")
            })
            .count()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

impl Sandbox {
    fn new(helm: &Helm, kubectl: &Path) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let base = std::env::temp_dir().join(format!(
            "deploy-contract-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&base);
        let (root, state, stubs, bin) = (base.join("repo"), base.join("state"), base.join("stubs"), base.join("bin"));
        for dir in [&root.join("scripts"), &root.join("helm"), &state, &stubs, &bin, &base.join("tmp")] {
            std::fs::create_dir_all(dir).unwrap();
        }
        let script = std::env::var_os("DEPLOY_SCRIPT_UNDER_TEST")
            .map(PathBuf::from)
            .unwrap_or_else(|| chart_tests::root().join("scripts/deploy.sh"));
        std::fs::copy(&script, root.join("scripts/deploy.sh")).expect("copy deploy.sh");
        let source = chart_tests::root();
        sh("cp", &["-r", source.join("helm/todo-chatbot").to_str().unwrap(), root.join("helm").to_str().unwrap()]);
        sh("cp", &["-r", source.join("k8s").to_str().unwrap(), root.to_str().unwrap()]);
        let _ = std::fs::remove_file(root.join("k8s/secrets.env"));
        for stub in ["common.sh", "kubectl", "helm", "minikube", "kind", "docker"] {
            std::fs::copy(source.join("chart-tests/deploy-stubs").join(stub), stubs.join(stub)).unwrap();
        }
        for tool in SYSTEM_TOOLS {
            std::os::unix::fs::symlink(which(tool), bin.join(tool)).unwrap();
        }
        let env = [
            ("PATH", format!("{}:{}", stubs.display(), bin.display())),
            ("HOME", base.display().to_string()),
            ("TMPDIR", base.join("tmp").display().to_string()),
            ("STUB_LOG", base.join("calls.log").display().to_string()),
            ("STUB_STATE", state.display().to_string()),
            ("STUB_CONTEXT", "kind-todo".into()),
            ("REAL_HELM", helm.path.display().to_string()),
            ("REAL_KUBECTL", kubectl.display().to_string()),
            ("BACKEND_IMAGE", BACKEND.into()),
            ("WEB_IMAGE", WEB.into()),
            ("POSTGRES_IMAGE", POSTGRES.into()),
            ("SKIP_TESTS", "1".into()),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect();
        let sandbox = Self { log: base.join("calls.log"), base, root, state, stubs, env };
        for (image, id) in [(BACKEND, "1"), (WEB, "2"), (POSTGRES, "3")] {
            sandbox.image(image, &id.repeat(64));
        }
        sandbox
    }

    fn set(&mut self, key: &str, value: &str) -> &mut Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// A local image with that ID (64 hex digits).
    fn image(&self, reference: &str, id: &str) {
        let file = self.state.join("images").join(reference.replace(['/', ':'], "_"));
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, format!("sha256:{id}")).unwrap();
    }

    /// A Secret in the cluster: base64 data, labels, helm.sh/resource-policy.
    fn secret(&self, name: &str, data: &BTreeMap<String, String>, labels: &BTreeMap<String, String>, policy: &str) {
        let dir = self.state.join("secrets").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for (key, value) in data {
            std::fs::write(dir.join(key), value).unwrap();
        }
        let labels: String = labels.iter().map(|(key, value)| format!("{key}={value}\n")).collect();
        std::fs::write(dir.join(".labels"), labels).unwrap();
        if !policy.is_empty() {
            std::fs::write(dir.join(".policy"), policy).unwrap();
        }
    }

    fn has_secret(&self, name: &str) -> bool {
        self.state.join("secrets").join(name).is_dir()
    }

    fn run(&self, args: &[&str]) -> Outcome {
        let _ = std::fs::remove_file(&self.log);
        let output = Command::new(self.root.join("scripts/deploy.sh"))
            .args(args)
            .env_clear()
            .envs(&self.env)
            .current_dir(&self.root)
            .output()
            .expect("deploy.sh runs");
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let calls = log.lines().map(|line| line.split('\x1f').map(str::to_owned).collect()).collect();
        let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
        eprintln!("--- deploy.sh {}: {}\n{text}", args.join(" "), output.status);
        Outcome { success: output.status.success(), output: text, calls }
    }

    /// What the last helm upgrade rendered (the stub renders it with the real helm).
    fn rendered(&self) -> Rendered {
        Rendered::parse(&std::fs::read_to_string(self.state.join("rendered.yaml")).expect("an upgrade was rendered"))
    }
}

fn setup() -> Option<(Helm, PathBuf)> {
    let helm = Helm::find()?;
    let kubectl = real_kubectl()?;
    Some((helm, kubectl))
}

fn flag_values<'a>(call: &'a [String], flag: &str) -> Vec<&'a str> {
    call.windows(2).filter(|pair| pair[0] == flag).map(|pair| pair[1].as_str()).collect()
}

fn container_image(rendered: &Rendered, kind: &str, name: &str) -> String {
    rendered.get(kind, name)["spec"]["template"]["spec"]["containers"][0]["image"].as_str().unwrap().to_owned()
}

#[test]
fn a_failed_image_load_stops_the_deploy_at_once_with_its_error() {
    let Some((helm, kubectl)) = setup() else { return };
    // minikube loads one image at a time: the first fails, the later ones would succeed.
    let mut sandbox = Sandbox::new(&helm, &kubectl);
    sandbox.set("STUB_CONTEXT", "minikube").set("STUB_FAIL", BACKEND);
    let outcome = sandbox.run(&["deploy", "dev"]);
    assert!(!outcome.success, "a failed minikube image load must fail the deploy");
    assert!(outcome.output.contains("GUEST_IMAGE_LOAD"), "minikube's own error is shown: {}", outcome.output);
    assert_eq!(outcome.calls_of("minikube").len(), 1, "nothing after the failed load: {:?}", outcome.calls);
    assert!(outcome.helm_upgrade().is_none(), "no helm upgrade after a failed load");

    // Any other cluster: pushed to DEPLOY_REGISTRY; a failed push stops it the same way.
    let mut sandbox = Sandbox::new(&helm, &kubectl);
    sandbox
        .set("STUB_CONTEXT", "staging-cluster")
        .set("DEPLOY_REGISTRY", "registry.invalid:5000")
        .set("STUB_FAIL", "registry.invalid:5000/todo-chatbot/backend");
    let outcome = sandbox.run(&["deploy", "dev"]);
    assert!(!outcome.success, "a failed push must fail the deploy");
    assert!(outcome.output.contains("connection refused"), "docker's own error is shown: {}", outcome.output);
    let pushes = outcome.calls.iter().filter(|call| call[0] == "docker" && call[1] == "push").count();
    assert_eq!(pushes, 1, "nothing after the failed push: {:?}", outcome.calls);
    assert!(outcome.helm_upgrade().is_none(), "no helm upgrade after a failed push");

    // kind, and the same deploy when every load works: it reaches helm with the tested images.
    let mut sandbox = Sandbox::new(&helm, &kubectl);
    sandbox.set("STUB_CONTEXT", "kind-todo");
    let outcome = sandbox.run(&["deploy", "dev"]);
    assert!(outcome.success, "{}", outcome.output);
    let kind = outcome.calls_of("kind");
    assert_eq!(kind.len(), 1);
    assert_eq!(kind[0][1..5], ["load", "docker-image", "--name", "todo"]);
    assert_eq!(kind[0][5..], [BACKEND, WEB, POSTGRES]);
    let rendered = sandbox.rendered();
    assert_eq!(container_image(&rendered, "Deployment", "todo-chatbot-backend"), BACKEND);
    assert_eq!(container_image(&rendered, "Deployment", "todo-chatbot-frontend"), WEB);
    assert_eq!(container_image(&rendered, "StatefulSet", "todo-chatbot-postgres"), POSTGRES);
}

#[test]
fn a_cluster_older_than_the_chart_is_turned_away_with_the_way_out_before_any_work() {
    let Some((helm, kubectl)) = setup() else { return };
    for (context, hint) in [
        ("minikube", "minikube start --kubernetes-version=v1.30.0"),
        ("kind-todo", "kind create cluster --name todo --image kindest/node:v1.30.0"),
        ("some-cluster", "upgrade the cluster"),
    ] {
        let mut sandbox = Sandbox::new(&helm, &kubectl);
        sandbox.set("STUB_CONTEXT", context).set("STUB_SERVER_MINOR", "28");
        let outcome = sandbox.run(&["deploy", "dev"]);
        assert!(!outcome.success, "{context}: a 1.28 cluster must be refused");
        assert!(outcome.output.contains("needs Kubernetes 1.30 or newer"), "{context}: {}", outcome.output);
        assert!(outcome.output.contains("runs 1.28"), "{context}: {}", outcome.output);
        assert!(outcome.output.contains(hint), "{context}: {}", outcome.output);
        assert!(outcome.helm_upgrade().is_none(), "{context}: no helm upgrade");
        let loads = ["minikube", "kind"].iter().map(|tool| outcome.calls_of(tool).len()).sum::<usize>();
        assert_eq!(loads, 0, "{context}: no image loaded: {:?}", outcome.calls);
    }
    // 1.30 itself is enough.
    let mut sandbox = Sandbox::new(&helm, &kubectl);
    sandbox.set("STUB_SERVER_MINOR", "30");
    let outcome = sandbox.run(&["deploy", "dev"]);
    assert!(outcome.success, "{}", outcome.output);
}

#[test]
fn a_rebuilt_dirty_image_rolls_out_under_a_tag_of_its_content() {
    let Some((helm, kubectl)) = setup() else { return };
    let dirty = "todo-chatbot/backend:0123456789ab-dirty";
    let mut sandbox = Sandbox::new(&helm, &kubectl);
    sandbox.set("BACKEND_IMAGE", dirty);
    let mut deployed = Vec::new();
    for id in ["a".repeat(64), "b".repeat(64)] {
        // A rebuild of the same uncommitted tree: same tag, new image.
        sandbox.image(dirty, &id);
        let outcome = sandbox.run(&["deploy", "dev"]);
        assert!(outcome.success, "{}", outcome.output);
        let expected = format!("{dirty}-{}", &id[..12]);
        let loaded = outcome.calls_of("kind");
        assert!(loaded[0].contains(&expected), "kind loads {expected}: {loaded:?}");
        let image = container_image(&sandbox.rendered(), "Deployment", "todo-chatbot-backend");
        assert_eq!(image, expected, "the pod template names the rebuilt image by its content");
        // Committed builds keep their revision tag.
        assert_eq!(container_image(&sandbox.rendered(), "Deployment", "todo-chatbot-frontend"), WEB);
        deployed.push(image);
    }
    assert_ne!(deployed[0], deployed[1], "a rebuilt image must change the pod template, or it never rolls out");
}

#[test]
fn deploy_kubectl_works_without_tools_and_undeploy_removes_its_secret() {
    let Some((helm, kubectl)) = setup() else { return };
    let sandbox = Sandbox::new(&helm, &kubectl);
    assert!(!sandbox.root.join(".tools").exists());
    let outcome = sandbox.run(&["deploy-kubectl"]);
    assert!(outcome.success, "deploy-kubectl without .tools/: {}", outcome.output);
    assert!(sandbox.root.join("k8s/secrets.env").is_file(), "the first run writes k8s/secrets.env");
    let applied = Rendered::parse(&std::fs::read_to_string(sandbox.state.join("applied.yaml")).unwrap());
    let secret = applied.of_kind("Secret").next().expect("kustomize generates the Secret");
    let name = secret["metadata"]["name"].as_str().unwrap().to_owned();
    assert!(name.starts_with("todo-chatbot-secrets-"), "{name}");
    // The applied workloads run the tested images.
    assert_eq!(container_image(&applied, "Deployment", "todo-chatbot-backend"), BACKEND);
    let data: BTreeMap<String, String> = mapping(&secret["data"]);
    let labels = mapping(&secret["metadata"]["labels"]);
    assert!(
        !outcome.output.contains(&decode_base64(&data["POSTGRES_PASSWORD"])),
        "the generated password is never printed"
    );
    // The cluster now holds that Secret as applied; undeploy must find it by its labels.
    sandbox.secret(&name, &data, &labels, "");
    let outcome = sandbox.run(&["undeploy"]);
    assert!(outcome.success, "{}", outcome.output);
    assert!(!sandbox.has_secret(&name), "undeploy leaves the kubectl path's Secret {name} behind: {:?}", outcome.calls);
    assert!(outcome.calls_of("helm").iter().all(|call| call[1] != "uninstall"), "no helm release to uninstall");

    // Without kubectl at all: a message that says what to install.
    let sandbox = Sandbox::new(&helm, &kubectl);
    std::fs::remove_file(sandbox.stubs.join("kubectl")).unwrap();
    let outcome = sandbox.run(&["deploy-kubectl"]);
    assert!(!outcome.success);
    assert!(
        outcome.output.contains("kubectl not found") && outcome.output.contains("just chart-tools"),
        "{}",
        outcome.output
    );
    assert_eq!(outcome.shipped(), 0);
}

#[test]
fn staging_without_its_secret_stops_before_anything_ships() {
    let Some((helm, kubectl)) = setup() else { return };
    let sandbox = Sandbox::new(&helm, &kubectl);
    let outcome = sandbox.run(&["deploy", "staging"]);
    assert!(!outcome.success);
    assert!(outcome.output.contains(&format!("expects Secret {SECRET} in todo-chatbot")), "{}", outcome.output);
    assert_eq!(outcome.shipped(), 0, "checked before the images are loaded: {:?}", outcome.calls);
    assert!(outcome.helm_upgrade().is_none());

    // With the Secret, and a .env with a model key: the key stays out (the Secret is the user's).
    let data = BTreeMap::from([("DATABASE_URL".to_owned(), "cG9zdGdyZXM6Ly8=".to_owned())]);
    sandbox.secret(SECRET, &data, &BTreeMap::new(), "");
    std::fs::write(sandbox.root.join(".env"), format!("OPENAI_API_KEY={OPENAI_KEY_MARKER}\n")).unwrap();
    let outcome = sandbox.run(&["deploy", "staging"]);
    assert!(outcome.success, "{}", outcome.output);
    let upgrade = outcome.helm_upgrade().unwrap();
    assert!(flag_values(upgrade, "--set-file").is_empty(), "existingSecret: no secret values passed: {upgrade:?}");
    assert!(outcome.output.contains("OPENAI_API_KEY is not used"), "{}", outcome.output);
    assert_eq!(sandbox.rendered().of_kind("Secret").count(), 0);
}

#[test]
fn the_model_settings_from_env_reach_the_chart_and_are_never_printed() {
    let Some((helm, kubectl)) = setup() else { return };
    let sandbox = Sandbox::new(&helm, &kubectl);
    std::fs::write(
        sandbox.root.join(".env"),
        format!(
            "WEB_PORT=3000\nOPENAI_API_KEY=sk-old\nOPENAI_API_KEY=\"{OPENAI_KEY_MARKER}\"\n\
             OPENAI_BASE_URL=https://model.example.com/v1\nOPENAI_MODEL=model-marker\n"
        ),
    )
    .unwrap();
    for attempt in ["first deploy", "redeploy"] {
        let outcome = sandbox.run(&["deploy", "dev"]);
        assert!(outcome.success, "{attempt}: {}", outcome.output);
        let rendered = sandbox.rendered();
        let secret = rendered.secret_data(SECRET);
        assert_eq!(secret.get("OPENAI_API_KEY").map(String::as_str), Some(OPENAI_KEY_MARKER), "{attempt}");
        let config = rendered.config_env(rendered.container("Deployment", "todo-chatbot-backend"));
        assert_eq!(config["OPENAI_MODEL"], "model-marker", "{attempt}");
        assert_eq!(config["OPENAI_BASE_URL"], "https://model.example.com/v1", "{attempt}");
        assert!(!outcome.output.contains(OPENAI_KEY_MARKER), "{attempt}: the key was printed");
        for call in &outcome.calls {
            assert!(
                !call.iter().any(|arg| arg.contains(OPENAI_KEY_MARKER)),
                "{attempt}: the key on a command line: {call:?}"
            );
        }
        // What a cluster keeps between the two deploys.
        let data = mapping(&rendered.get("Secret", SECRET)["data"]);
        sandbox.secret(SECRET, &data, &mapping(&rendered.get("Secret", SECRET)["metadata"]["labels"]), "keep");
    }
}

#[test]
fn the_test_gate_names_each_missing_prerequisite() {
    let Some((helm, kubectl)) = setup() else { return };
    let mut sandbox = Sandbox::new(&helm, &kubectl);
    sandbox.set("SKIP_TESTS", "0").set("STUB_DOCKER_DOWN", "1");
    let outcome = sandbox.run(&["deploy", "dev"]);
    assert!(!outcome.success);
    for prerequisite in ["cargo", "Docker daemon", "chromium", "chromedriver", "mcp", ".tools/llm"] {
        assert!(outcome.output.contains(prerequisite), "{prerequisite} not named: {}", outcome.output);
    }
    assert!(!outcome.output.contains("the image tests failed"), "nothing ran, so nothing failed: {}", outcome.output);
    assert_eq!(outcome.shipped(), 0);
    assert!(outcome.helm_upgrade().is_none());

    // Everything there but chromedriver: only chromedriver is named.
    let mut sandbox = Sandbox::new(&helm, &kubectl);
    let fake = sandbox.base.join("fake-tools");
    std::fs::create_dir_all(&fake).unwrap();
    for tool in ["cargo", "chromium", "python"] {
        std::fs::write(fake.join(tool), "#!/usr/bin/env bash\nexit 0\n").unwrap();
        sh("chmod", &["+x", fake.join(tool).to_str().unwrap()]);
    }
    std::fs::create_dir_all(sandbox.root.join(".tools/llm/bin")).unwrap();
    std::fs::copy(fake.join("python"), sandbox.root.join(".tools/llm/bin/python")).unwrap();
    std::fs::write(sandbox.root.join(".tools/llm/model.gguf"), "").unwrap();
    let path = format!("{}:{}", fake.display(), sandbox.env["PATH"]);
    sandbox.set("SKIP_TESTS", "0").set("PATH", &path).set("MCP_PYTHON", fake.join("python").to_str().unwrap());
    let outcome = sandbox.run(&["deploy", "dev"]);
    assert!(!outcome.success);
    let missing: Vec<&str> = outcome.output.lines().filter(|line| line.starts_with("  - ")).collect();
    assert_eq!(missing.len(), 1, "{}", outcome.output);
    assert!(missing[0].contains("chromedriver"), "{}", outcome.output);
}

#[test]
fn undeploy_keeps_the_database_password_and_clean_removes_it() {
    let Some((helm, kubectl)) = setup() else { return };
    let sandbox = Sandbox::new(&helm, &kubectl);
    let instance = BTreeMap::from([("app.kubernetes.io/instance".to_owned(), "todo-chatbot".to_owned())]);
    let data = BTreeMap::from([("POSTGRES_PASSWORD".to_owned(), "cGFzc3dvcmQ=".to_owned())]);
    let seed = |sandbox: &Sandbox| {
        std::fs::write(sandbox.state.join("release"), "").unwrap();
        sandbox.secret(SECRET, &data, &instance, "keep");
        // A hook Secret helm leaves behind, and another release's Secret.
        sandbox.secret("todo-chatbot-hook", &data, &instance, "");
        sandbox.secret("someone-else", &data, &BTreeMap::new(), "");
    };
    seed(&sandbox);
    let outcome = sandbox.run(&["undeploy"]);
    assert!(outcome.success, "{}", outcome.output);
    assert!(outcome.calls_of("helm").iter().any(|call| call[1] == "uninstall"), "an existing release is uninstalled");
    assert!(sandbox.has_secret(SECRET), "the kept Secret holds the database volume's password");
    assert!(!sandbox.has_secret("todo-chatbot-hook"), "the release's other Secrets go");
    assert!(sandbox.has_secret("someone-else"));
    assert!(outcome.output.contains(&format!("kept the database volume and Secret {SECRET}")), "{}", outcome.output);

    // No release (already undeployed): no helm uninstall, and still no error.
    let outcome = sandbox.run(&["undeploy"]);
    assert!(outcome.success, "{}", outcome.output);
    assert!(outcome.calls_of("helm").iter().all(|call| call[1] != "uninstall"));

    seed(&sandbox);
    let outcome = sandbox.run(&["clean"]);
    assert!(outcome.success, "{}", outcome.output);
    assert!(!sandbox.has_secret(SECRET), "just clean removes the kept Secret with the namespace");
    assert!(outcome.calls.iter().any(|call| call[0] == "kubectl" && call[1] == "delete" && call[2] == "namespace"));
}

// --- the redeploy, with our PostgreSQL image ---------------------------------------------------

fn docker(args: &[&str]) -> Result<String, String> {
    let output = Command::new("docker").args(args).output().map_err(|error| format!("docker: {error}"))?;
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).trim().to_owned();
    if output.status.success() { Ok(text(&output.stdout)) } else { Err(text(&output.stderr)) }
}

#[derive(Debug, Default)]
struct Containers(Vec<String>);

impl Drop for Containers {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = docker(&["rm", "--force", name]);
        }
    }
}

/// Starts the rendered StatefulSet's container on the host directory `volume` (its PVC) and
/// waits for its readiness probe.
fn start_database(rendered: &Rendered, volume: &Path, name: &str, containers: &mut Containers) {
    let statefulset = rendered.get("StatefulSet", "todo-chatbot-postgres");
    let pod = &statefulset["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let uid = container["securityContext"]["runAsUser"].as_u64().unwrap().to_string();
    let mut args: Vec<String> =
        ["run", "--detach", "--pull", "never", "--name", name, "--read-only"].map(String::from).to_vec();
    args.extend(["--user".into(), format!("{uid}:{uid}")]);
    // The emptyDirs as the kubelet makes them: empty directories, mode 0777 (Docker's tmpfs
    // would copy the image directory's owner and mode up instead).
    for (index, path) in ["/var/run/postgresql", "/tmp"].iter().enumerate() {
        let dir = volume.with_file_name(format!("{name}-empty-{index}"));
        std::fs::create_dir_all(&dir).unwrap();
        sh("chmod", &["0777", dir.to_str().unwrap()]);
        args.extend(["--volume".into(), format!("{}:{path}", dir.display())]);
    }
    for variable in container["env"].as_sequence().unwrap() {
        let key = variable["name"].as_str().unwrap();
        let value = match variable["value"].as_str() {
            Some(value) => value.to_owned(),
            None => {
                let reference = &variable["valueFrom"]["secretKeyRef"];
                rendered.secret_data(reference["name"].as_str().unwrap())[reference["key"].as_str().unwrap()].clone()
            }
        };
        args.extend(["--env".into(), format!("{key}={value}")]);
    }
    let mount = container["volumeMounts"].as_sequence().unwrap().iter().find(|mount| mount["name"] == "data").unwrap();
    args.extend(["--volume".into(), format!("{}:{}", volume.display(), mount["mountPath"].as_str().unwrap())]);
    args.push(container["image"].as_str().unwrap().into());
    args.extend(container["args"].as_sequence().unwrap().iter().map(|arg| arg.as_str().unwrap().to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    docker(&args).unwrap_or_else(|error| panic!("docker run {name}: {error}"));
    containers.0.push(name.into());
    let probe: Vec<&str> = container["readinessProbe"]["exec"]["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|part| part.as_str().unwrap())
        .collect();
    let start = Instant::now();
    loop {
        let mut exec = vec!["exec", name];
        exec.extend(&probe);
        if docker(&exec).is_ok() {
            break;
        }
        let running = docker(&["inspect", "--format", "{{.State.Running}}", name]).unwrap();
        assert!(running == "true", "{name} stopped: {:?}", docker(&["logs", name]));
        assert!(start.elapsed() < Duration::from_secs(90), "{name} not ready: {:?}", docker(&["logs", name]));
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Connects as the backend does, with the DATABASE_URL of the rendered Secret (over TCP, where
/// the image asks for the password).
fn connect(rendered: &Rendered, container: &str) -> Result<String, String> {
    let url = rendered.secret_data(SECRET)["DATABASE_URL"].replace("@todo-chatbot-postgres:5432", "@127.0.0.1:5432");
    docker(&["exec", container, "psql", &url, "--no-psqlrc", "--tuples-only", "--command", "select 'connected'"])
}

#[test]
fn undeploy_then_deploy_keeps_the_database_login() {
    let Some((helm, kubectl)) = setup() else { return };
    let Some(postgres) = require(
        std::env::var("POSTGRES_IMAGE").ok().filter(|image| !image.is_empty()),
        "POSTGRES_IMAGE",
        "run through just (`just chart-check`, `just test`), which builds and names the images",
    ) else {
        return;
    };
    if docker(&["info", "--format", "{{.ServerVersion}}"]).is_err() {
        require::<()>(None, "a running Docker daemon", "start dockerd");
        return;
    }
    let mut sandbox = Sandbox::new(&helm, &kubectl);
    sandbox.set("POSTGRES_IMAGE", &postgres);
    sandbox.image(&postgres, &"3".repeat(64));
    let volume = sandbox.base.join("pvc");
    std::fs::create_dir_all(volume.join("lost+found")).unwrap();
    let mut containers = Containers::default();
    let name = |step: &str| format!("deploy-contract-{step}-{}", std::process::id());

    // just deploy: a fresh install generates the password; the database is initialised with it.
    let outcome = sandbox.run(&["deploy", "dev"]);
    assert!(outcome.success, "{}", outcome.output);
    let first = sandbox.rendered();
    let secret = first.get("Secret", SECRET);
    let policy = mapping(&secret["metadata"]["annotations"]).get("helm.sh/resource-policy").cloned();
    assert_eq!(policy.as_deref(), Some("keep"), "the password Secret must outlive the release (and a failed install)");
    // The fsGroup the kubelet applies to a fresh PVC.
    let uid =
        first.get("StatefulSet", "todo-chatbot-postgres")["spec"]["template"]["spec"]["securityContext"]["fsGroup"]
            .as_u64()
            .unwrap();
    sh("chown", &["-R", &format!("{uid}:{uid}"), volume.to_str().unwrap()]);
    start_database(&first, &volume, &name("first"), &mut containers);
    assert_eq!(connect(&first, &name("first")).as_deref(), Ok("connected"));
    docker(&["stop", &name("first")]).unwrap();

    // What the cluster holds while the release runs: the Secret as rendered, the release, the PVC.
    let labels = mapping(&secret["metadata"]["labels"]);
    sandbox.secret(SECRET, &mapping(&secret["data"]), &labels, policy.as_deref().unwrap_or(""));
    std::fs::write(sandbox.state.join("pvc"), "persistentvolumeclaim/data-todo-chatbot-postgres-0\n").unwrap();

    // just undeploy && just deploy, on the kept volume.
    let outcome = sandbox.run(&["undeploy"]);
    assert!(outcome.success, "{}", outcome.output);
    let outcome = sandbox.run(&["deploy", "dev"]);
    assert!(outcome.success, "{}", outcome.output);
    let second = sandbox.rendered();
    start_database(&second, &volume, &name("second"), &mut containers);
    assert_eq!(
        connect(&second, &name("second")).as_deref(),
        Ok("connected"),
        "after undeploy and deploy the backend's DATABASE_URL must still log in"
    );
    assert_eq!(
        second.secret_data(SECRET)["BETTER_AUTH_SECRET"],
        first.secret_data(SECRET)["BETTER_AUTH_SECRET"],
        "sign-ins stay valid across the redeploy"
    );

    // The check can fail: a render that does not know the kept password (what lookup-less
    // `helm template` gives) is refused by the same database.
    let fresh = helm.template(Some("helm/todo-chatbot/values-dev.yaml"), &[]).unwrap();
    let refused = connect(&fresh, &name("second")).expect_err("a new password must not log in");
    assert!(refused.contains("password authentication failed"), "{refused}");

    // And with the volume but without its Secret, deploy stops instead of locking the database out.
    std::fs::remove_dir_all(sandbox.state.join("secrets").join(SECRET)).unwrap();
    let outcome = sandbox.run(&["deploy", "dev"]);
    assert!(!outcome.success);
    assert!(outcome.output.contains("the database volume"), "{}", outcome.output);
    assert!(outcome.helm_upgrade().is_none());
}

#[test]
fn an_arm64_cluster_gets_the_arm64_images_and_pulls_the_official_postgres() {
    let Some((helm, kubectl)) = setup() else { return };
    let mut sandbox = Sandbox::new(&helm, &kubectl);
    sandbox.set("STUB_NODE_ARCHS", "arm64");
    let (backend, web) = (format!("{BACKEND}-arm64"), format!("{WEB}-arm64"));
    sandbox.image(&backend, &"4".repeat(64));
    sandbox.image(&web, &"5".repeat(64));
    let outcome = sandbox.run(&["deploy", "dev"]);
    assert!(outcome.success, "{}", outcome.output);
    let loaded = outcome.calls_of("kind");
    assert_eq!(loaded.len(), 1, "{loaded:?}");
    assert_eq!(&loaded[0][5..], [backend.clone(), web.clone()], "the arm64 builds, and not our amd64-only postgres");
    let rendered = sandbox.rendered();
    assert_eq!(container_image(&rendered, "Deployment", "todo-chatbot-backend"), backend);
    assert_eq!(container_image(&rendered, "Deployment", "todo-chatbot-frontend"), web);
    assert_eq!(container_image(&rendered, "StatefulSet", "todo-chatbot-postgres"), "postgres:15");
    assert!(outcome.output.contains("the cluster's nodes are arm64"), "{}", outcome.output);

    // The same cluster as the engine's own architecture: the plain tags, our postgres, as before.
    sandbox.set("STUB_NODE_ARCHS", "amd64");
    let outcome = sandbox.run(&["deploy", "dev"]);
    assert!(outcome.success, "{}", outcome.output);
    assert_eq!(&outcome.calls_of("kind")[0][5..], [BACKEND, WEB, POSTGRES]);
    assert_eq!(container_image(&sandbox.rendered(), "Deployment", "todo-chatbot-backend"), BACKEND);
}

#[test]
fn a_cluster_of_another_architecture_without_its_build_is_told_how_to_build_it() {
    let Some((helm, kubectl)) = setup() else { return };
    let mut sandbox = Sandbox::new(&helm, &kubectl);
    for (archs, expected) in [
        ("arm64", "PLATFORMS=linux/amd64,linux/arm64 just deploy"),
        ("amd64 arm64", "several architectures (amd64 arm64)"),
        ("", "the cluster has no nodes yet"),
    ] {
        sandbox.set("STUB_NODE_ARCHS", archs);
        let outcome = sandbox.run(&["deploy", "dev"]);
        assert!(!outcome.success, "{archs}: {}", outcome.output);
        assert!(outcome.output.contains(expected), "{archs}: expected {expected:?} in\n{}", outcome.output);
        assert_eq!(outcome.shipped(), 0, "nothing ships: {:?}", outcome.calls);
        assert!(outcome.helm_upgrade().is_none());
    }
}
