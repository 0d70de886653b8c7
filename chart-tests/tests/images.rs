//! Our images started by Docker exactly as the rendered pods specify them: user and group,
//! read-only root filesystem, dropped capabilities, no privilege escalation, memory limit,
//! environment from the rendered ConfigMap and Secret, args, ports, emptyDir and volume
//! mounts, Service names as network aliases. Then the migration Job must succeed and every
//! pod reach ready by its own readiness probe, and the backend must drain as designed.
//! Image names come from BACKEND_IMAGE, WEB_IMAGE, POSTGRES_IMAGE (set by the justfile).

use chart_tests::*;
use serde_yaml::Value;
use std::{
    collections::BTreeMap,
    io::{Read, Write},
    net::TcpStream,
    path::PathBuf,
    process::Command,
    time::{Duration, Instant},
};

fn docker(args: &[&str]) -> Result<String, String> {
    let output = Command::new("docker").args(args).output().map_err(|error| format!("docker: {error}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
    }
}

/// Removes the containers, network and host directories of a run, whatever happens.
#[derive(Debug, Default)]
struct Cleanup {
    containers: Vec<String>,
    network: Option<String>,
    dirs: Vec<PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for container in &self.containers {
            let _ = docker(&["rm", "--force", "--volumes", container]);
        }
        if let Some(network) = &self.network {
            let _ = docker(&["network", "rm", network]);
        }
        for dir in &self.dirs {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn image_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.trim().is_empty())
}

/// `GET path` on 127.0.0.1:port → (status, body).
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map(|(_, body)| body.to_owned())?;
    Some((status, body))
}

fn wait_until(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < timeout, "{what}: not ready within {timeout:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
    eprintln!("{what}: ready after {:?}", start.elapsed());
}

struct Started {
    container: String,
    /// containerPort → published host port.
    ports: BTreeMap<u16, u16>,
}

/// `docker run` of a rendered workload's first container, as Kubernetes would start it.
fn run_workload(rendered: &Rendered, workload: &Value, network: &str, alias: &str, cleanup: &mut Cleanup) -> Started {
    let pod = if workload["kind"] == "Pod" { &workload["spec"] } else { &workload["spec"]["template"]["spec"] };
    let container = &pod["containers"][0];
    let context = &container["securityContext"];
    let name = format!("chart-test-{}-{}", workload["metadata"]["name"].as_str().unwrap(), std::process::id());
    let mut args: Vec<String> = vec![
        "run".into(),
        "--detach".into(),
        "--pull".into(),
        "never".into(),
        "--name".into(),
        name.clone(),
        "--network".into(),
        network.into(),
        "--network-alias".into(),
        alias.into(),
    ];
    let uid = context["runAsUser"].as_u64().expect("runAsUser");
    let gid = context["runAsGroup"].as_u64().expect("runAsGroup");
    args.extend(["--user".into(), format!("{uid}:{gid}")]);
    if let Some(fs_group) = pod["securityContext"]["fsGroup"].as_u64() {
        args.extend(["--group-add".into(), fs_group.to_string()]);
    }
    if context["readOnlyRootFilesystem"] == true {
        args.push("--read-only".into());
    }
    for capability in context["capabilities"]["drop"].as_sequence().into_iter().flatten() {
        args.extend(["--cap-drop".into(), capability.as_str().unwrap().into()]);
    }
    if context["allowPrivilegeEscalation"] == false {
        args.extend(["--security-opt".into(), "no-new-privileges".into()]);
    }
    let limit = container["resources"]["limits"]["memory"].as_str().expect("memory limit");
    args.extend(["--memory".into(), memory_bytes(limit).to_string()]);
    // Environment as the kubelet builds it: ConfigMap references and values, then Secret keys.
    let mut env = rendered.config_env(container);
    for variable in container["env"].as_sequence().into_iter().flatten() {
        let key = variable["name"].as_str().unwrap().to_owned();
        if let Some(reference) = variable["valueFrom"]["secretKeyRef"].as_mapping() {
            let secret = rendered.secret_data(reference["name"].as_str().unwrap());
            match secret.get(reference["key"].as_str().unwrap()) {
                Some(value) => {
                    env.insert(key, value.clone());
                }
                None => assert_eq!(
                    reference.get("optional").and_then(Value::as_bool),
                    Some(true),
                    "{key}: a required secret key is missing"
                ),
            }
        }
    }
    for (key, value) in &env {
        args.extend(["--env".into(), format!("{key}={value}")]);
    }
    // Volumes as the kubelet makes them: an emptyDir is an empty host directory, mode 0777;
    // a fresh PVC holds lost+found. With fsGroup both belong to that group, setgid.
    // (Docker's tmpfs mounts copy the image directory's owner and mode up, unlike an emptyDir.)
    let volumes = pod["volumes"].as_sequence().cloned().unwrap_or_default();
    let fs_group = pod["securityContext"]["fsGroup"].as_u64();
    for mount in container["volumeMounts"].as_sequence().into_iter().flatten() {
        let path = mount["mountPath"].as_str().unwrap();
        let volume_name = mount["name"].as_str().unwrap();
        let empty_dir = volumes.iter().any(|v| v["name"] == volume_name && !v["emptyDir"].is_null());
        let dir = std::env::temp_dir().join(format!("{name}-{volume_name}"));
        std::fs::create_dir_all(&dir).unwrap();
        cleanup.dirs.push(dir.clone());
        if !empty_dir {
            std::fs::create_dir_all(dir.join("lost+found")).unwrap();
        }
        let group = fs_group.unwrap_or(0);
        let mode = match (empty_dir, fs_group.is_some()) {
            (true, true) => "2777",
            (true, false) => "0777",
            (false, true) => "2775",
            (false, false) => "0755",
        };
        let chown = Command::new("chown").arg(format!("0:{group}")).arg(&dir).status();
        assert!(chown.is_ok_and(|s| s.success()), "chown of the volume directory (needs root)");
        let chmod = Command::new("chmod").arg(mode).arg(&dir).status();
        assert!(chmod.is_ok_and(|s| s.success()));
        args.extend(["--volume".into(), format!("{}:{path}", dir.display())]);
    }
    let mut container_ports = Vec::new();
    for port in container["ports"].as_sequence().into_iter().flatten() {
        let number = port["containerPort"].as_u64().unwrap() as u16;
        container_ports.push(number);
        args.extend(["--publish".into(), format!("127.0.0.1::{number}")]);
    }
    args.push(container["image"].as_str().unwrap().into());
    for arg in container["args"].as_sequence().into_iter().flatten() {
        args.push(arg.as_str().unwrap().into());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    docker(&args).unwrap_or_else(|error| panic!("docker run {name}: {error}"));
    cleanup.containers.push(name.clone());
    let ports = container_ports
        .into_iter()
        .map(|port| {
            let published = docker(&["port", &name, &format!("{port}/tcp")]).unwrap();
            let host_port = published
                .lines()
                .next()
                .and_then(|line| line.rsplit(':').next())
                .and_then(|port| port.parse().ok())
                .expect("published port");
            (port, host_port)
        })
        .collect();
    Started { container: name, ports }
}

/// Waits for a container's readiness probe (httpGet on the named port, or exec) to pass.
fn wait_ready(started: &Started, container: &Value, timeout: Duration) {
    let probe = &container["readinessProbe"];
    let what = format!("{} readiness", started.container);
    if let Some(path) = probe["httpGet"]["path"].as_str() {
        let port_name = probe["httpGet"]["port"].as_str().unwrap();
        let port = container["ports"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|p| p["name"] == port_name)
            .and_then(|p| p["containerPort"].as_u64())
            .unwrap() as u16;
        let host_port = started.ports[&port];
        wait_until(&what, timeout, || {
            assert_running(&started.container);
            http_get(host_port, path).is_some_and(|(status, _)| status == 200)
        });
    } else {
        let command: Vec<&str> = probe["exec"]["command"]
            .as_sequence()
            .expect("httpGet or exec probe")
            .iter()
            .map(|part| part.as_str().unwrap())
            .collect();
        wait_until(&what, timeout, || {
            assert_running(&started.container);
            let mut args = vec!["exec", started.container.as_str()];
            args.extend(&command);
            docker(&args).is_ok()
        });
    }
}

fn assert_running(container: &str) {
    let state = docker(&["inspect", "--format", "{{.State.Running}}", container]).unwrap();
    if state != "true" {
        let logs = Command::new("docker")
            .args(["logs", container])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr))
            .unwrap_or_default();
        panic!("{container} stopped:\n{logs}");
    }
}

#[test]
fn the_images_run_and_get_ready_exactly_as_the_rendered_pods_specify() {
    let Some(helm) = Helm::find() else { return };
    let images = (image_env("BACKEND_IMAGE"), image_env("WEB_IMAGE"), image_env("POSTGRES_IMAGE"));
    let (Some(backend), Some(web), Some(postgres)) = (images.0, images.1, images.2) else {
        require::<()>(
            None,
            "BACKEND_IMAGE, WEB_IMAGE and POSTGRES_IMAGE",
            "run through just (`just test`, `just chart-check`), which builds the images and names them",
        );
        return;
    };
    if docker(&["info", "--format", "{{.ServerVersion}}"]).is_err() {
        require::<()>(None, "a running Docker daemon", "start dockerd");
        return;
    }
    let image_sets: Vec<String> = [("backend", &backend), ("web", &web), ("postgres", &postgres)]
        .iter()
        .flat_map(|(component, image)| {
            let (repository, tag) = image.rsplit_once(':').expect("name:tag");
            [format!("{component}.image.repository={repository}"), format!("{component}.image.tag={tag}")]
        })
        .collect();
    let password = "chart-image-test-password";
    let mut sets: Vec<String> = image_sets.clone();
    sets.extend([
        "postgres.enabled=true".into(),
        "migrations.job.enabled=false".into(),
        format!("postgres.auth.password={password}"),
        format!("secrets.betterAuthSecret={AUTH_SECRET_MARKER}"),
    ]);
    let set_refs: Vec<&str> = sets.iter().map(String::as_str).collect();
    // The development database as values-dev.yaml deploys it.
    let dev = helm.template(Some("helm/todo-chatbot/values-dev.yaml"), &set_refs).expect("dev render");
    // The production shape (migration Job, MIGRATE_ON_START=false) pointed at that database,
    // with a model configured: the backend builds its model client at start-up, as UID 1000,
    // which is what once failed on a CA bundle only root could read.
    let mut sets = image_sets;
    sets.extend([
        format!("secrets.databaseUrl=postgres://todo:{password}@todo-chatbot-postgres:5432/todo"),
        format!("secrets.betterAuthSecret={AUTH_SECRET_MARKER}"),
        "secrets.openaiApiKey=sk-chart-image-test".into(),
        "config.openaiBaseUrl=https://model.example.invalid/v1".into(),
    ]);
    let set_refs: Vec<&str> = sets.iter().map(String::as_str).collect();
    let prod = helm.template(None, &set_refs).expect("default render");

    let mut cleanup = Cleanup::default();
    let network = format!("chart-test-{}", std::process::id());
    docker(&["network", "create", &network]).expect("docker network create");
    cleanup.network = Some(network.clone());

    let statefulset = dev.get("StatefulSet", "todo-chatbot-postgres");
    let database = run_workload(&dev, statefulset, &network, "todo-chatbot-postgres", &mut cleanup);
    wait_ready(&database, &statefulset["spec"]["template"]["spec"]["containers"][0], Duration::from_secs(90));

    // The hook Job: must run to completion (exit 0) before any server starts.
    let job = prod.get("Job", "todo-chatbot-migrate");
    let migrate = run_workload(&prod, job, &network, "todo-chatbot-migrate", &mut cleanup);
    let exit = docker(&["wait", &migrate.container]).unwrap();
    assert_eq!(exit, "0", "backend migrate failed: {:?}", docker(&["logs", &migrate.container]));

    let backend_deployment = prod.get("Deployment", "todo-chatbot-backend");
    let backend_container = &backend_deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(prod.config_env(backend_container)["MIGRATE_ON_START"], "false");
    let backend = run_workload(&prod, backend_deployment, &network, "todo-chatbot-backend", &mut cleanup);
    wait_ready(&backend, backend_container, Duration::from_secs(60));

    let web_deployment = prod.get("Deployment", "todo-chatbot-frontend");
    let web = run_workload(&prod, web_deployment, &network, "todo-chatbot-frontend", &mut cleanup);
    wait_ready(&web, &web_deployment["spec"]["template"]["spec"]["containers"][0], Duration::from_secs(60));

    // The whole path: web → backend (BACKEND_URL, the Service name) → database.
    let (status, body) = http_get(web.ports[&3000], "/api/readyz").expect("web answers");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"status\":\"ok\""), "{body}");
    let (status, body) = http_get(web.ports[&3000], "/api/info").expect("web answers");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"assistant\":\"model\""), "the chart's model key reached the backend: {body}");

    // `helm test`: the rendered test pods (the web image's `healthcheck URL`, no shell) pass
    // against the running stack...
    let tests = helm_tests(&prod);
    assert_eq!(tests.len(), 2, "helm test pods: frontend and chain");
    for pod in &tests {
        let (exit, logs) = run_to_completion(&prod, pod, &network, &mut cleanup);
        assert_eq!(exit, "0", "{} failed against a healthy stack: {logs}", id(pod));
        assert!(logs.contains("healthy:"), "{}: {logs}", id(pod));
    }

    // The drain the chart relies on: after SIGTERM readiness fails at once while the backend
    // keeps serving for SHUTDOWN_DELAY_SECS, then it exits 0 well within the grace period.
    let delay: u64 = prod.config_env(backend_container)["SHUTDOWN_DELAY_SECS"].parse().unwrap();
    let grace = backend_deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"].as_u64().unwrap();
    let port = backend.ports[&8000];
    let stopped_at = Instant::now();
    docker(&["kill", "--signal", "TERM", &backend.container]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(http_get(port, "/readyz").map(|(status, _)| status), Some(503), "readiness must fail at once");
    assert_eq!(http_get(port, "/healthz").map(|(status, _)| status), Some(200), "still serving during the delay");
    let exit = docker(&["wait", &backend.container]).unwrap();
    let took = stopped_at.elapsed();
    assert_eq!(exit, "0");
    assert!(took >= Duration::from_secs(delay), "stopped after {took:?}, before SHUTDOWN_DELAY_SECS={delay}");
    assert!(took < Duration::from_secs(grace), "took {took:?}, beyond the grace period {grace}s");
    eprintln!("backend drained and exited 0 in {took:?} (delay {delay}s, grace {grace}s)");

    // ...and the chain check fails once the backend is gone, while web itself still serves.
    for pod in &tests {
        let (exit, logs) = run_to_completion(&prod, pod, &network, &mut cleanup);
        let chain = pod["metadata"]["name"].as_str().unwrap().ends_with("-chain");
        assert_eq!(exit == "0", !chain, "{} without a backend: exit {exit}: {logs}", id(pod));
    }
}

/// The `helm test` hook pods of a render.
fn helm_tests(rendered: &Rendered) -> Vec<&Value> {
    rendered
        .of_kind("Pod")
        .filter(|pod| mapping(&pod["metadata"]["annotations"]).get("helm.sh/hook").map(String::as_str) == Some("test"))
        .collect()
}

/// Runs a one-shot pod (a `helm test` hook) to its end: (exit code, logs).
fn run_to_completion(rendered: &Rendered, pod: &Value, network: &str, cleanup: &mut Cleanup) -> (String, String) {
    let started = run_workload(rendered, pod, network, "helm-test", cleanup);
    let exit = docker(&["wait", &started.container]).unwrap();
    let output = Command::new("docker").args(["logs", &started.container]).output().expect("docker logs");
    let logs = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    let _ = docker(&["rm", "--force", &started.container]);
    (exit, logs)
}
