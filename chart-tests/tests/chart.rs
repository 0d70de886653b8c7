//! The chart, rendered by the real helm with every shipped values file, checked object by
//! object: the promises docs/kubernetes.md makes must hold in what `helm install` would apply.

use chart_tests::*;
use serde_yaml::Value;
use std::collections::BTreeMap;

const BACKEND: &str = "todo-chatbot-backend";
const WEB: &str = "todo-chatbot-frontend";
const CONFIG: &str = "todo-chatbot-config";
const POSTGRES: &str = "todo-chatbot-postgres";
const MIGRATE: &str = "todo-chatbot-migrate";
const SECRET: &str = "todo-chatbot-secrets";

fn renders(helm: &Helm) -> Vec<(Scenario, Rendered)> {
    scenarios()
        .into_iter()
        .map(|scenario| {
            let rendered = helm.render(&scenario);
            (scenario, rendered)
        })
        .collect()
}

fn default_scenario() -> Scenario {
    scenarios().remove(0)
}

fn dev_scenario() -> Scenario {
    scenarios().into_iter().find(|scenario| scenario.name == "values-dev.yaml").expect("dev scenario")
}

fn containers(pod_template: &Value) -> Vec<&Value> {
    let spec = &pod_template["spec"];
    let mut all: Vec<&Value> = Vec::new();
    for list in ["initContainers", "containers"] {
        if let Some(items) = spec[list].as_sequence() {
            all.extend(items);
        }
    }
    all
}

fn container<'a>(rendered: &'a Rendered, kind: &str, name: &str) -> &'a Value {
    let template = &rendered.get(kind, name)["spec"]["template"];
    containers(template).into_iter().next().unwrap_or_else(|| panic!("{kind}/{name} has no container"))
}

#[test]
fn app_version_is_the_workspace_version() {
    let chart = std::fs::read_to_string(chart_dir().join("Chart.yaml")).expect("Chart.yaml");
    let chart: Value = serde_yaml::from_str(&chart).expect("Chart.yaml parses");
    assert_eq!(chart["apiVersion"], "v2");
    assert_eq!(
        chart["appVersion"].as_str(),
        Some(workspace_version().as_str()),
        "helm/todo-chatbot/Chart.yaml appVersion must equal Cargo.toml's [workspace.package] version"
    );
}

#[test]
fn every_values_file_passes_helm_lint_strict() {
    let Some(helm) = Helm::find() else { return };
    for scenario in scenarios() {
        let chart = chart_dir();
        let mut args = vec!["lint", "--strict", chart.to_str().unwrap()];
        if let Some(values) = scenario.values {
            args.extend(["--values", values]);
        }
        for set in &scenario.sets {
            args.extend(["--set", set]);
        }
        if let Err(error) = helm.run(&args) {
            panic!("{}: helm lint --strict failed: {error}", scenario.name);
        }
    }
}

#[test]
fn a_misspelt_or_unsafe_value_is_refused() {
    let Some(helm) = Helm::find() else { return };
    let base = default_scenario().sets;
    let refused = [
        ("backend.replicaz=3", "replicaz"),
        ("web.imag.tag=x", "imag"),
        ("backend.image.tag=latest", "/backend/image/tag"),
        ("config.logFormat=xml", "logFormat"),
        ("secrets.betterAuthSecret=too-short", "betterAuthSecret"),
        ("postgres.enabled=true", "exclude each other"),
        ("backend.terminationGracePeriodSeconds=10", "terminationGracePeriodSeconds"),
        ("web.terminationGracePeriodSeconds=6", "terminationGracePeriodSeconds"),
    ];
    for (set, expected) in refused {
        let mut sets = base.clone();
        sets.push(set);
        let error = helm.template(None, &sets).err().unwrap_or_else(|| panic!("--set {set} was accepted"));
        assert!(error.contains(expected), "--set {set}: the error should name {expected}: {error}");
    }
    // An external database without DATABASE_URL is refused with a message that says what to do.
    let error = helm.template(None, &[]).unwrap_err();
    assert!(error.contains("secrets.databaseUrl is required"), "{error}");
}

#[test]
fn every_pod_passes_the_restricted_profile_as_its_image_user() {
    let Some(helm) = Helm::find() else { return };
    let expected_uid = |container: &str| match container {
        "backend" | "migrate" => 1000,
        "web" | "check" => 1001,
        "postgres" => 999,
        other => panic!("unexpected container {other}"),
    };
    for (scenario, rendered) in renders(&helm) {
        let templates = rendered.pod_templates();
        assert!(templates.len() >= 2, "{}: no workloads", scenario.name);
        for (workload, template) in templates {
            let at = format!("{}: {workload}", scenario.name);
            let spec = &template["spec"];
            let pod = &spec["securityContext"];
            assert_eq!(pod["runAsNonRoot"], true, "{at}");
            assert_eq!(pod["seccompProfile"]["type"], "RuntimeDefault", "{at}");
            assert_eq!(spec["automountServiceAccountToken"], false, "{at}");
            for forbidden in ["hostNetwork", "hostPID", "hostIPC"] {
                assert!(spec[forbidden].is_null() || spec[forbidden] == false, "{at}: {forbidden}");
            }
            for volume in spec["volumes"].as_sequence().into_iter().flatten() {
                assert!(volume["hostPath"].is_null(), "{at}: hostPath volume");
            }
            for container in containers(template) {
                let name = container["name"].as_str().expect("container name");
                let at = format!("{at} container {name}");
                let context = &container["securityContext"];
                let uid = expected_uid(name);
                assert_eq!(context["runAsUser"].as_u64(), Some(uid), "{at}");
                assert_eq!(context["runAsGroup"].as_u64(), Some(uid), "{at}");
                assert_eq!(pod["runAsUser"].as_u64(), Some(uid), "{at}: pod user");
                assert_eq!(context["runAsNonRoot"], true, "{at}");
                assert_eq!(context["allowPrivilegeEscalation"], false, "{at}");
                assert_eq!(context["readOnlyRootFilesystem"], true, "{at}");
                assert_eq!(context["privileged"], false, "{at}");
                assert_eq!(context["seccompProfile"]["type"], "RuntimeDefault", "{at}");
                let dropped: Vec<&str> = context["capabilities"]["drop"]
                    .as_sequence()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                assert_eq!(dropped, ["ALL"], "{at}");
                assert!(context["capabilities"]["add"].is_null(), "{at}: adds capabilities");
            }
        }
    }
}

#[test]
fn probes_use_the_endpoints_the_servers_serve() {
    let Some(helm) = Helm::find() else { return };
    for (scenario, rendered) in renders(&helm) {
        let backend = container(&rendered, "Deployment", BACKEND);
        let port = |c: &Value| c["ports"][0]["containerPort"].as_u64();
        assert_eq!(port(backend), Some(8000), "{}", scenario.name);
        for (probe, path) in [("startupProbe", "/readyz"), ("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")]
        {
            assert_eq!(backend[probe]["httpGet"]["path"], path, "{}: backend {probe}", scenario.name);
            assert_eq!(backend[probe]["httpGet"]["port"], "http", "{}", scenario.name);
        }
        assert_eq!(backend["ports"][0]["name"], "http");
        let web = container(&rendered, "Deployment", WEB);
        assert_eq!(port(web), Some(3000), "{}", scenario.name);
        for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
            assert_eq!(web[probe]["httpGet"]["path"], "/healthz", "{}: web {probe}", scenario.name);
        }
        // The PORT each server listens on is the port the probes and Service use.
        assert_eq!(rendered.config_env(backend)["PORT"], "8000");
        assert_eq!(rendered.config_env(web)["PORT"], "3000");
        if let Some(postgres) = rendered.find("StatefulSet", POSTGRES) {
            let probe = &containers(&postgres["spec"]["template"])[0]["readinessProbe"];
            assert_eq!(probe["exec"]["command"][0], "pg_isready", "{}", scenario.name);
        }
    }
}

#[test]
fn every_container_has_requests_and_a_memory_limit() {
    let Some(helm) = Helm::find() else { return };
    for (scenario, rendered) in renders(&helm) {
        for (workload, template) in rendered.pod_templates() {
            for container in containers(template) {
                let at = format!("{}: {workload} {}", scenario.name, container["name"].as_str().unwrap_or("?"));
                let resources = &container["resources"];
                let request =
                    resources["requests"]["memory"].as_str().unwrap_or_else(|| panic!("{at}: no memory request"));
                let limit = resources["limits"]["memory"].as_str().unwrap_or_else(|| panic!("{at}: no memory limit"));
                assert!(resources["requests"]["cpu"].is_string(), "{at}: no cpu request");
                let (request, limit) = (memory_bytes(request), memory_bytes(limit));
                assert!(request <= limit, "{at}: request above limit");
                // Measured (docs/kubernetes.md): backend 9 MiB idle, 14 MiB under load; web 7-60 MiB.
                assert!(request >= 16 << 20, "{at}: a request under 16 MiB is below the measured use");
            }
        }
    }
}

#[test]
fn every_object_carries_the_recommended_labels() {
    let Some(helm) = Helm::find() else { return };
    let version = workspace_version();
    for (scenario, rendered) in renders(&helm) {
        for object in &rendered.objects {
            let at = format!("{}: {}", scenario.name, id(object));
            let labels = mapping(&object["metadata"]["labels"]);
            assert_eq!(labels.get("app.kubernetes.io/name").map(String::as_str), Some("todo-chatbot"), "{at}");
            assert_eq!(labels.get("app.kubernetes.io/instance").map(String::as_str), Some(RELEASE), "{at}");
            assert_eq!(labels.get("app.kubernetes.io/version"), Some(&version), "{at}");
            assert_eq!(labels.get("app.kubernetes.io/managed-by").map(String::as_str), Some("Helm"), "{at}");
            assert_eq!(labels.get("app.kubernetes.io/part-of").map(String::as_str), Some("todo-chatbot"), "{at}");
            assert!(labels.contains_key("helm.sh/chart"), "{at}");
            if object["kind"] != "Namespace" {
                assert_eq!(object["metadata"]["namespace"], NAMESPACE, "{at}: namespace");
            }
        }
        // Workload selectors are the stable subset of the pod labels.
        for kind in ["Deployment", "StatefulSet"] {
            for workload in rendered.of_kind(kind) {
                let selector = mapping(&workload["spec"]["selector"]["matchLabels"]);
                let labels = mapping(&workload["spec"]["template"]["metadata"]["labels"]);
                assert!(selects(&selector, &labels), "{}: {}", scenario.name, id(workload));
                assert!(!selector.contains_key("app.kubernetes.io/version"), "{}: version in a selector", id(workload));
            }
        }
        // Every Service selects the pods of exactly one workload, of its own component
        // (todo-chatbot-web is chart 0.1.0's name for the frontend's pods).
        for service in rendered.of_kind("Service") {
            let selector = mapping(&service["spec"]["selector"]);
            let matched: Vec<String> = rendered
                .objects
                .iter()
                .filter(|o| matches!(o["kind"].as_str(), Some("Deployment" | "StatefulSet" | "Job")))
                .filter(|o| selects(&selector, &mapping(&o["spec"]["template"]["metadata"]["labels"])))
                .map(id)
                .collect();
            let name = service["metadata"]["name"].as_str().unwrap();
            let workload_name = if name == "todo-chatbot-web" { WEB } else { name };
            assert_eq!(matched.len(), 1, "{}: {} selects {matched:?}", scenario.name, id(service));
            assert!(matched[0].ends_with(workload_name), "{}: {} selects {}", scenario.name, name, matched[0]);
            // Its target port is a named port of that workload's container.
            let target = service["spec"]["ports"][0]["targetPort"].as_str().unwrap();
            let (kind, workload) = matched[0].split_once('/').unwrap();
            let ports = &container(&rendered, kind, workload)["ports"];
            let names: Vec<&str> =
                ports.as_sequence().unwrap().iter().filter_map(|port| port["name"].as_str()).collect();
            assert!(names.contains(&target), "{name}: targetPort {target} not in {names:?}");
        }
    }
}

#[test]
fn autoscaler_only_when_enabled_with_the_documented_bounds() {
    let Some(helm) = Helm::find() else { return };
    let default = helm.render(&default_scenario());
    let hpa = default.get("HorizontalPodAutoscaler", BACKEND);
    assert_eq!(hpa["apiVersion"], "autoscaling/v2");
    assert_eq!(hpa["spec"]["minReplicas"].as_u64(), Some(2));
    assert_eq!(hpa["spec"]["maxReplicas"].as_u64(), Some(5));
    assert_eq!(hpa["spec"]["scaleTargetRef"]["name"], BACKEND);
    assert_eq!(hpa["spec"]["scaleTargetRef"]["kind"], "Deployment");
    let metric = &hpa["spec"]["metrics"][0]["resource"];
    assert_eq!(metric["name"], "cpu");
    assert_eq!(metric["target"]["averageUtilization"].as_u64(), Some(70));
    // The autoscaler owns the replica count: the Deployment must not fight it.
    assert!(default.get("Deployment", BACKEND)["spec"]["replicas"].is_null());
    assert!(default.find("HorizontalPodAutoscaler", WEB).is_none(), "web HPA is off by default");
    assert_eq!(default.get("Deployment", WEB)["spec"]["replicas"].as_u64(), Some(1));

    let dev = helm.render(&dev_scenario());
    assert_eq!(dev.of_kind("HorizontalPodAutoscaler").count(), 0, "dev renders no HPA");
    assert_eq!(dev.get("Deployment", BACKEND)["spec"]["replicas"].as_u64(), Some(2));

    let mut sets = default_scenario().sets;
    sets.extend(["web.autoscaling.enabled=true", "web.autoscaling.maxReplicas=4"]);
    let both = helm.template(None, &sets).unwrap();
    assert_eq!(both.get("HorizontalPodAutoscaler", WEB)["spec"]["maxReplicas"].as_u64(), Some(4));
    assert!(both.get("Deployment", WEB)["spec"]["replicas"].is_null());
}

#[test]
fn secret_values_reach_the_secret_and_nothing_else() {
    let Some(helm) = Helm::find() else { return };
    let markers = [DATABASE_PASSWORD_MARKER, AUTH_SECRET_MARKER, OPENAI_KEY_MARKER, POSTGRES_PASSWORD_MARKER];
    for scenario in [default_scenario(), dev_scenario()] {
        let rendered = helm.render(&scenario);
        let secret = rendered.secret_data(SECRET);
        let all_secret = secret.values().cloned().collect::<Vec<_>>().join("\n");
        assert!(all_secret.contains(AUTH_SECRET_MARKER), "{}", scenario.name);
        assert!(all_secret.contains(OPENAI_KEY_MARKER), "{}", scenario.name);
        assert!(secret["DATABASE_URL"].starts_with("postgres://"), "{}", scenario.name);
        for object in rendered.objects.iter().filter(|o| o["kind"] != "Secret") {
            let text = serde_yaml::to_string(object).unwrap();
            for marker in markers {
                assert!(!text.contains(marker), "{}: {} contains a secret value", scenario.name, id(object));
            }
            if object["kind"] == "ConfigMap" {
                // Keys are "<server>.<VARIABLE>" in todo-chatbot-config.
                let variables: Vec<String> = mapping(&object["data"])
                    .into_keys()
                    .map(|key| key.rsplit('.').next().unwrap_or_default().to_owned())
                    .collect();
                for key in ["DATABASE_URL", "BETTER_AUTH_SECRET", "OPENAI_API_KEY", "POSTGRES_PASSWORD"] {
                    assert!(!variables.iter().any(|v| v == key), "{}: {key} in {}", scenario.name, id(object));
                }
            }
        }
    }
    // The dev database URL is built from the same password the database gets.
    let dev = helm.render(&dev_scenario()).secret_data(SECRET);
    assert_eq!(dev["POSTGRES_PASSWORD"], POSTGRES_PASSWORD_MARKER);
    assert_eq!(dev["DATABASE_URL"], format!("postgres://todo:{POSTGRES_PASSWORD_MARKER}@{POSTGRES}:5432/todo"));
    // With existingSecret the chart renders no Secret and points every reference at that one.
    let staging = helm.render(&scenarios()[2]);
    assert_eq!(staging.of_kind("Secret").count(), 0);
    let backend = container(&staging, "Deployment", BACKEND);
    for env in backend["env"].as_sequence().unwrap() {
        if let Some(name) = env["valueFrom"]["secretKeyRef"]["name"].as_str() {
            assert_eq!(name, "todo-chatbot-secrets");
        }
    }
}

#[test]
fn images_carry_an_explicit_tag_never_latest() {
    let Some(helm) = Helm::find() else { return };
    let version = workspace_version();
    for (scenario, rendered) in renders(&helm) {
        for (workload, template) in rendered.pod_templates() {
            for container in containers(template) {
                let image = container["image"].as_str().unwrap();
                let (repository, tag) =
                    image.rsplit_once(':').unwrap_or_else(|| panic!("{workload}: {image} has no tag"));
                assert!(!tag.is_empty() && tag != "latest", "{}: {workload}: {image}", scenario.name);
                assert!(repository.starts_with("todo-chatbot/"), "{workload}: {image}");
                if !repository.ends_with("postgres") {
                    assert_eq!(tag, version, "{}: {workload}: default tag is appVersion", scenario.name);
                }
            }
        }
    }
    // `just deploy` passes the revision tag; the migration Job runs the same image.
    let mut sets = default_scenario().sets;
    sets.extend(["backend.image.tag=0123abcd4567", "web.image.tag=0123abcd4567", "imageRegistry=registry.local:5000"]);
    let rendered = helm.template(None, &sets).unwrap();
    assert_eq!(
        container(&rendered, "Deployment", BACKEND)["image"],
        "registry.local:5000/todo-chatbot/backend:0123abcd4567"
    );
    assert_eq!(container(&rendered, "Job", MIGRATE)["image"], "registry.local:5000/todo-chatbot/backend:0123abcd4567");
    assert_eq!(container(&rendered, "Deployment", WEB)["image"], "registry.local:5000/todo-chatbot/web:0123abcd4567");
}

fn hook(object: &Value) -> Option<(Vec<String>, i64)> {
    let annotations = mapping(&object["metadata"]["annotations"]);
    let phases = annotations.get("helm.sh/hook")?;
    let weight = annotations.get("helm.sh/hook-weight").map(|w| w.parse().expect("integer weight")).unwrap_or(0);
    Some((phases.split(',').map(str::to_owned).collect(), weight))
}

#[test]
fn the_migration_job_runs_before_the_servers_and_after_what_it_reads() {
    let Some(helm) = Helm::find() else { return };
    let rendered = helm.render(&default_scenario());
    let job = rendered.get("Job", MIGRATE);
    let (phases, job_weight) = hook(job).expect("the migration Job is a hook");
    assert_eq!(phases, ["pre-install", "pre-upgrade"]);
    let migrate = container(&rendered, "Job", MIGRATE);
    assert_eq!(migrate["args"][0], "migrate");
    assert_eq!(job["spec"]["template"]["spec"]["restartPolicy"], "Never");
    // The servers leave migrating to the Job.
    assert_eq!(rendered.config_env(container(&rendered, "Deployment", BACKEND))["MIGRATE_ON_START"], "false");
    // Everything the Job's pod references exists before it: hooks of lower weight, or
    // objects outside the release (the namespace's default ServiceAccount).
    let secret = rendered.get("Secret", SECRET);
    let (secret_phases, secret_weight) = hook(secret).expect("the Secret is a hook when the Job is");
    assert_eq!(secret_phases, phases);
    assert!(secret_weight < job_weight, "Secret weight {secret_weight} must be below the Job's {job_weight}");
    let pod = &job["spec"]["template"]["spec"];
    assert!(pod["serviceAccountName"].is_null(), "the chart's ServiceAccount is not a hook");
    assert!(migrate["envFrom"].is_null(), "the backend ConfigMap is not a hook");
    for env in migrate["env"].as_sequence().unwrap() {
        if let Some(name) = env["valueFrom"]["secretKeyRef"]["name"].as_str() {
            assert_eq!(name, SECRET);
        }
        assert!(env["valueFrom"]["configMapKeyRef"].is_null());
    }
    // No other object is an install/upgrade hook: they are managed (and removed) with the
    // release. The `helm test` pods are hooks of `helm test` only.
    let is_test = |object: &Value| hook(object).is_some_and(|(phases, _)| phases == ["test"]);
    for object in &rendered.objects {
        if hook(object).is_some() && !is_test(object) {
            assert!(
                matches!(id(object).as_str(), "Secret/todo-chatbot-secrets" | "Job/todo-chatbot-migrate"),
                "{} is a hook",
                id(object)
            );
        }
    }
    // Without the Job (dev, k8s/): no install hooks at all, and the servers migrate themselves.
    let dev = helm.render(&dev_scenario());
    assert!(dev.find("Job", MIGRATE).is_none());
    assert!(dev.objects.iter().all(|o| hook(o).is_none() || is_test(o)));
    assert_eq!(dev.config_env(container(&dev, "Deployment", BACKEND))["MIGRATE_ON_START"], "true");
}

/// Pod labels per component (backend, web, migrate, postgres) of one render.
fn pods_by_component(rendered: &Rendered) -> BTreeMap<String, BTreeMap<String, String>> {
    rendered
        .pod_templates()
        .into_iter()
        .map(|(_, template)| {
            let labels = mapping(&template["metadata"]["labels"]);
            (labels["app.kubernetes.io/component"].clone(), labels)
        })
        .collect()
}

fn selected(selector: &Value, pods: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<String> {
    let selector = mapping(&selector["matchLabels"]);
    pods.iter().filter(|(_, labels)| selects(&selector, labels)).map(|(component, _)| component.clone()).collect()
}

#[test]
fn network_policies_select_the_pods_they_mean() {
    let Some(helm) = Helm::find() else { return };
    for scenario in [default_scenario(), dev_scenario()] {
        let rendered = helm.render(&scenario);
        let pods = pods_by_component(&rendered);
        let at = scenario.name;
        let policy = |name: &str| rendered.get("NetworkPolicy", name)["spec"].clone();
        // Each component's policy applies to that component's pods and no other.
        for component in pods.keys() {
            let spec = policy(&format!("todo-chatbot-{component}"));
            assert_eq!(selected(&spec["podSelector"], &pods), std::slice::from_ref(component), "{at}: {component}");
            let types: Vec<&str> =
                spec["policyTypes"].as_sequence().unwrap().iter().filter_map(Value::as_str).collect();
            assert_eq!(types, ["Ingress", "Egress"], "{at}: {component} must restrict both directions");
        }
        // backend: ingress from web pods only, on the backend port.
        let backend = policy(BACKEND);
        let ingress = backend["ingress"].as_sequence().unwrap();
        assert_eq!(ingress.len(), 1);
        let peers: Vec<String> = ingress[0]["from"]
            .as_sequence()
            .unwrap()
            .iter()
            .flat_map(|peer| selected(&peer["podSelector"], &pods))
            .collect();
        assert_eq!(peers, ["frontend"], "{at}: backend ingress");
        assert_eq!(ingress[0]["ports"][0]["port"].as_u64(), Some(8000));
        // web: egress to the backend pods on 8000, and DNS; nothing else.
        let web = policy(WEB);
        let egress = web["egress"].as_sequence().unwrap();
        assert_eq!(egress.len(), 2, "{at}: web egress is backend + DNS");
        assert_eq!(selected(&egress[0]["to"][0]["podSelector"], &pods), ["backend"]);
        assert_eq!(egress[0]["ports"][0]["port"].as_u64(), Some(8000));
        assert_eq!(egress[1]["ports"][0]["port"].as_u64(), Some(53));
        // test (the `helm test` pods): no ingress; egress to the frontend's port and DNS only.
        let test = policy("todo-chatbot-test");
        assert!(test["ingress"].is_null(), "{at}: nothing may reach the test pods");
        let egress = test["egress"].as_sequence().unwrap();
        assert_eq!(egress.len(), 2, "{at}: test egress is frontend + DNS");
        assert_eq!(selected(&egress[0]["to"][0]["podSelector"], &pods), ["frontend"]);
        assert_eq!(egress[0]["ports"][0]["port"].as_u64(), Some(3000));
        assert_eq!(egress[1]["ports"][0]["port"].as_u64(), Some(53));
        // backend egress: the database, the model endpoint (443), DNS.
        let egress = backend["egress"].as_sequence().unwrap();
        let ports: Vec<u64> = egress.iter().map(|rule| rule["ports"][0]["port"].as_u64().unwrap()).collect();
        assert_eq!(ports, [5432, 443, 53], "{at}: backend egress");
        if pods.contains_key("postgres") {
            assert_eq!(selected(&egress[0]["to"][0]["podSelector"], &pods), ["postgres"], "{at}");
            let postgres = policy(POSTGRES);
            let from: Vec<String> = postgres["ingress"][0]["from"]
                .as_sequence()
                .unwrap()
                .iter()
                .flat_map(|peer| selected(&peer["podSelector"], &pods))
                .collect();
            assert_eq!(from, ["backend"], "{at}: postgres ingress");
            assert!(postgres["egress"].is_null(), "{at}: postgres has no egress");
        } else {
            assert!(egress[0]["to"][0]["ipBlock"]["cidr"].is_string(), "{at}: external database by CIDR");
            let migrate = policy(MIGRATE);
            let ports: Vec<u64> = migrate["egress"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|rule| rule["ports"][0]["port"].as_u64().unwrap())
                .collect();
            assert_eq!(ports, [5432, 53], "{at}: migrate egress");
            assert!(migrate["ingress"].is_null(), "{at}: nothing may reach the migration Job");
        }
    }
}

#[test]
fn rollouts_keep_serving_and_drain_within_the_grace_period() {
    let Some(helm) = Helm::find() else { return };
    for (scenario, rendered) in renders(&helm) {
        let at = scenario.name;
        for name in [BACKEND, WEB] {
            let deployment = rendered.get("Deployment", name);
            let rolling = &deployment["spec"]["strategy"]["rollingUpdate"];
            assert_eq!(rolling["maxUnavailable"].as_u64(), Some(0), "{at}: {name}");
            assert!(rolling["maxSurge"].as_u64() >= Some(1), "{at}: {name}");
        }
        let backend = rendered.get("Deployment", BACKEND);
        let delay: u64 =
            rendered.config_env(container(&rendered, "Deployment", BACKEND))["SHUTDOWN_DELAY_SECS"].parse().unwrap();
        let grace = backend["spec"]["template"]["spec"]["terminationGracePeriodSeconds"].as_u64().unwrap();
        assert!(delay >= 3, "{at}: SHUTDOWN_DELAY_SECS {delay} is too short for endpoints to update");
        assert!(grace >= delay + 10, "{at}: backend grace {grace} vs delay {delay}");
        assert!(
            container(&rendered, "Deployment", BACKEND)["lifecycle"].is_null(),
            "{at}: the backend drains itself; a preStop sleep would double the delay"
        );
        let web = container(&rendered, "Deployment", WEB);
        let sleep = web["lifecycle"]["preStop"]["sleep"]["seconds"].as_u64().expect("web preStop sleep");
        let grace = rendered.get("Deployment", WEB)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
            .as_u64()
            .unwrap();
        assert!(sleep >= 3 && grace >= sleep + 10, "{at}: web sleep {sleep}, grace {grace}");
    }
}

/// The pod template of a Deployment: what, when it changes, rolls the pods.
fn pod_template(rendered: &Rendered, name: &str) -> Value {
    rendered.get("Deployment", name)["spec"]["template"].clone()
}

#[test]
fn a_configuration_change_rolls_the_pods_it_concerns_and_no_others() {
    let Some(helm) = Helm::find() else { return };
    let base = helm.render(&default_scenario());
    let with = |set: &'static str| {
        let mut sets = default_scenario().sets;
        sets.push(set);
        helm.template(None, &sets).unwrap()
    };
    // Rendering twice gives the same templates: nothing rolls without a change.
    let again = helm.render(&default_scenario());
    assert_eq!(pod_template(&base, BACKEND)["metadata"], pod_template(&again, BACKEND)["metadata"]);
    assert_eq!(pod_template(&base, WEB), pod_template(&again, WEB));
    // (changed value, rolls backend, rolls web)
    let cases = [
        ("config.openaiModel=another-model", true, false),
        ("config.corsOrigins=https://todo.example.com", true, false),
        ("backend.shutdownDelaySeconds=6", true, false),
        ("web.proxyTimeoutSecs=60", false, true),
        ("config.rustLog=warn", true, true),
        ("backend.port=8080", true, true), // web's BACKEND_URL names the backend's port
    ];
    for (set, rolls_backend, rolls_web) in cases {
        let changed = with(set);
        // The value reached the ConfigMap, and each Deployment's template changed exactly when
        // the server reads a changed setting.
        assert_ne!(base.config_map(CONFIG), changed.config_map(CONFIG), "{set}: ConfigMap unchanged");
        assert_eq!(pod_template(&base, BACKEND) != pod_template(&changed, BACKEND), rolls_backend, "{set}: backend");
        assert_eq!(pod_template(&base, WEB) != pod_template(&changed, WEB), rolls_web, "{set}: web");
    }
    // A secret change rolls the backend, never web (web reads no secret).
    let changed = with("secrets.openaiApiKey=sk-another-key");
    let annotation = |rendered: &Rendered, key: &str| {
        mapping(&pod_template(rendered, BACKEND)["metadata"]["annotations"]).get(key).cloned()
    };
    assert_ne!(annotation(&base, "checksum/secret"), annotation(&changed, "checksum/secret"));
    assert_eq!(pod_template(&base, WEB), pod_template(&changed, WEB));
}

#[test]
fn each_server_reads_its_own_keys_of_the_one_config_map() {
    let Some(helm) = Helm::find() else { return };
    for (scenario, rendered) in renders(&helm) {
        let at = scenario.name;
        let data = rendered.config_map(CONFIG);
        for (name, server) in [(BACKEND, "backend"), (WEB, "web")] {
            let container = container(&rendered, "Deployment", name);
            assert!(container["envFrom"].is_null(), "{at}: {name} reads keys, not the whole ConfigMap");
            let mut read = Vec::new();
            for variable in container["env"].as_sequence().unwrap() {
                if let Some(reference) = variable["valueFrom"]["configMapKeyRef"].as_mapping() {
                    let key = reference["key"].as_str().unwrap();
                    assert_eq!(reference["name"].as_str(), Some(CONFIG), "{at}: {name}");
                    assert_eq!(key, format!("{server}.{}", variable["name"].as_str().unwrap()), "{at}: {name}");
                    read.push(key.to_owned());
                }
            }
            // Every key under the server's prefix is read by it, and nothing else is.
            let own: Vec<String> = data.keys().filter(|key| key.starts_with(&format!("{server}."))).cloned().collect();
            assert_eq!(read, own, "{at}: {name} reads exactly its keys");
        }
        assert!(data.keys().all(|key| key.starts_with("backend.") || key.starts_with("web.")), "{at}: {data:?}");
        assert_eq!(data["web.BACKEND_URL"], "http://todo-chatbot-backend:8000", "{at}");
    }
}

#[test]
fn k8s_manifests_are_the_chart_rendered() {
    let Some(_helm) = Helm::find() else { return };
    let out = std::env::temp_dir().join(format!("chart-tests-k8s-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let status = std::process::Command::new(root().join("scripts/render-k8s.sh"))
        .arg(&out)
        .status()
        .expect("scripts/render-k8s.sh runs");
    assert!(status.success(), "scripts/render-k8s.sh failed");
    let list = |dir: &std::path::Path| -> BTreeMap<String, String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "yaml") && !path.ends_with("values.yaml"))
            .map(|path| {
                (path.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&path).unwrap())
            })
            .collect()
    };
    let expected = list(&out);
    let committed = list(&root().join("k8s"));
    let _ = std::fs::remove_dir_all(&out);
    assert!(expected.contains_key("kustomization.yaml") && expected.len() > 5);
    assert_eq!(
        committed.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "k8s/ has drifted from the chart: run `just k8s-render` (scripts/render-k8s.sh)"
    );
    for (name, text) in &expected {
        assert!(
            committed[name] == *text,
            "k8s/{name} has drifted from the chart: run `just k8s-render` (scripts/render-k8s.sh)"
        );
    }
}

#[test]
fn the_backend_counts_clients_behind_as_many_proxies_as_the_chart_puts_in_front() {
    let Some(helm) = Helm::find() else { return };
    let hops = |rendered: &Rendered| {
        rendered.config_env(rendered.container("Deployment", BACKEND))["TRUSTED_PROXY_HOPS"].clone()
    };
    // The web proxy alone, or ingress-nginx and then the web proxy.
    for (scenario, rendered) in renders(&helm) {
        let ingress = rendered.find("Ingress", "todo-chatbot").is_some();
        assert_eq!(hops(&rendered), if ingress { "2" } else { "1" }, "{}", scenario.name);
    }
    // An explicit value wins, 0 included (a `default` would have replaced it).
    for (set, expected) in [("config.trustedProxyHops=0", "0"), ("config.trustedProxyHops=3", "3")] {
        let mut sets = default_scenario().sets;
        sets.extend(["ingress.enabled=true", set]);
        assert_eq!(hops(&helm.template(None, &sets).unwrap()), expected, "{set}");
    }
    let mut sets = default_scenario().sets;
    sets.push("config.trustedProxyHops=11");
    assert!(helm.template(None, &sets).is_err(), "more than 10 hops is a typo");
}

#[test]
fn the_seed_value_names_are_aliases_with_a_defined_precedence() {
    let Some(helm) = Helm::find() else { return };
    let url = |password: &str| format!("postgres://todo:{password}@db.example.com:5432/todo");
    let render = |sets: &[String]| {
        let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
        helm.template(None, &sets)
    };
    let auth = format!("secrets.betterAuthSecret={AUTH_SECRET_MARKER}");
    // The seed's name alone works like ours.
    let alias = render(&[format!("secrets.DATABASE_URL={}", url("a")), auth.clone()]).unwrap();
    assert_eq!(alias.secret_data(SECRET)["DATABASE_URL"], url("a"));
    // Both names with the same value: fine.
    let both =
        render(&[format!("secrets.DATABASE_URL={}", url("a")), format!("secrets.databaseUrl={}", url("a")), auth])
            .unwrap();
    assert_eq!(both.secret_data(SECRET)["DATABASE_URL"], url("a"));
    // Both names with different values: refused, naming both, for each secret.
    for (ours, theirs, value) in [
        ("databaseUrl", "DATABASE_URL", url("b")),
        ("betterAuthSecret", "BETTER_AUTH_SECRET", "another-signing-key-0123456789abcdef".to_owned()),
        ("openaiApiKey", "OPENAI_API_KEY", "sk-another".to_owned()),
    ] {
        let mut sets: Vec<String> = default_scenario().sets.iter().map(|set| (*set).to_owned()).collect();
        sets.push(format!("secrets.{theirs}={value}"));
        let error = render(&sets)
            .err()
            .unwrap_or_else(|| panic!("secrets.{ours} and secrets.{theirs} differ, yet it rendered"));
        assert!(
            error.contains(&format!("secrets.{ours} and secrets.{theirs} are both set")),
            "{ours}/{theirs}: {error}"
        );
    }
    // The seed's secret names follow our rules: a short signing key is refused by name.
    let mut sets: Vec<String> = vec![format!("secrets.databaseUrl={}", url("a"))];
    sets.push("secrets.BETTER_AUTH_SECRET=short".into());
    assert!(render(&sets).unwrap_err().contains("BETTER_AUTH_SECRET"));
    // backend.replicas, when set, wins over replicaCount (which always has a default); the
    // autoscaler still owns the count while it is enabled.
    let dev = Some("helm/todo-chatbot/values-dev.yaml");
    let replicas =
        |sets: &[&str]| helm.template(dev, sets).unwrap().get("Deployment", BACKEND)["spec"]["replicas"].as_u64();
    assert_eq!(replicas(&[]), Some(2));
    assert_eq!(replicas(&["backend.replicas=3"]), Some(3));
    assert_eq!(replicas(&["backend.replicas=3", "backend.replicaCount=4"]), Some(3));
    assert_eq!(replicas(&["backend.replicas=0"]), Some(0));
    assert_eq!(replicas(&["backend.replicas=3", "backend.autoscaling.enabled=true"]), None);
}

#[test]
fn the_frontend_is_reachable_under_the_seed_name_and_the_old_one() {
    let Some(helm) = Helm::find() else { return };
    for (scenario, rendered) in renders(&helm) {
        let at = scenario.name;
        let pods = mapping(&rendered.get("Deployment", WEB)["spec"]["template"]["metadata"]["labels"]);
        assert_eq!(pods["app.kubernetes.io/component"], "frontend", "{at}");
        for name in [WEB, "todo-chatbot-web"] {
            let service = rendered.get("Service", name);
            assert!(selects(&mapping(&service["spec"]["selector"]), &pods), "{at}: {name}");
            assert_eq!(service["spec"]["ports"][0]["port"].as_u64(), Some(3000), "{at}: {name}");
        }
        assert_eq!(rendered.get("Service", "todo-chatbot-web")["spec"]["type"], "ClusterIP", "{at}");
    }
    let dev = helm.render(&dev_scenario());
    assert_eq!(dev.get("Service", WEB)["spec"]["type"], "NodePort", "minikube service needs a node port");
}

/// The `helm test` pods of a render.
fn helm_test_pods(rendered: &Rendered) -> Vec<&Value> {
    rendered.of_kind("Pod").filter(|pod| hook(pod).is_some_and(|(phases, _)| phases == ["test"])).collect()
}

#[test]
fn helm_test_checks_web_backend_and_database_from_inside_the_cluster() {
    let Some(helm) = Helm::find() else { return };
    for (scenario, rendered) in renders(&helm) {
        let at = scenario.name;
        let pods = helm_test_pods(&rendered);
        let mut urls: Vec<&str> = Vec::new();
        for pod in &pods {
            let check = &pod["spec"]["containers"][0];
            assert_eq!(pod["spec"]["restartPolicy"], "Never", "{at}");
            assert_eq!(check["args"][0], "healthcheck", "{at}: the image's own probe, no shell");
            assert!(check["command"].is_null(), "{at}: the image's entrypoint");
            assert_eq!(check["image"], container(&rendered, "Deployment", WEB)["image"], "{at}: the web image");
            let policy = mapping(&pod["metadata"]["annotations"])["helm.sh/hook-delete-policy"].clone();
            assert!(policy.contains("hook-succeeded") && !policy.contains("hook-failed"), "{at}: keep failures");
            urls.push(check["args"][1].as_str().unwrap());
        }
        // Through the frontend Service: web alone, then web → backend → database (/api/readyz).
        assert_eq!(
            urls,
            ["http://todo-chatbot-frontend:3000/healthz", "http://todo-chatbot-frontend:3000/api/readyz"],
            "{at}"
        );
        let service = rendered.get("Service", WEB);
        assert_eq!(service["spec"]["ports"][0]["port"].as_u64(), Some(3000));
    }
    // k8s/ (kubectl apply) carries no test pods: they run only under `helm test`.
    let kustomization = std::fs::read_to_string(root().join("k8s/kustomization.yaml")).unwrap();
    assert!(!kustomization.contains("tests/"), "{kustomization}");
}

#[path = "chart/runbook.rs"]
mod runbook;

#[path = "chart/readme.rs"]
mod readme;
