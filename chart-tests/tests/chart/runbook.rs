//! The seed's runbook on our chart. Users coming from the phase-4 seed copy its commands, so
//! every `helm`, `kubectl` and `minikube` command of its README (docs/seed/README-PHASE4.md, a
//! verbatim copy; SEED_README=<path> checks another version) is extracted from the README's
//! code blocks and inline code, never from a hand-kept list, and checked against what helm
//! renders: `--set` keys are accepted by the schema and reach the objects they name; the names,
//! label selectors and ports that kubectl and minikube target exist. A command with no rule
//! here fails the test, so a changed README gets re-checked. The runbook deploys with its
//! deploy script, ours with `just deploy`: values-dev.yaml is the release it talks to.

use chart_tests::runbook::{self, Command};
use chart_tests::*;

/// What `just deploy` installs, the release the runbook's kubectl commands talk to.
const TARGET_VALUES: &str = "helm/todo-chatbot/values-dev.yaml";
const CHART_PATH: &str = "./helm/todo-chatbot";

/// Runbook commands our chart refuses on purpose: (subcommand, a `--set` the command carries,
/// what the error must say, why).
const REFUSED: &[(&str, &str, &[&str], &str)] = &[
    (
        "template",
        "secrets.BETTER_AUTH_SECRET=test",
        &["/secrets/DATABASE_URL", "/secrets/BETTER_AUTH_SECRET"],
        "\"test\" is neither a postgres:// URL nor a signing key of 32 bytes: the backend would \
         exit 78 at start-up, so the schema refuses it at render time, naming both keys. With \
         real values the same keys render (checked below).",
    ),
    (
        "upgrade",
        "backend.replicas=3",
        &["--reuse-values"],
        "helm upgrade with --set starts again from the chart's defaults (production: an external \
         database), dropping the values the release was installed with; the chart refuses an \
         upgrade left without a database and says to add --reuse-values. With the release's \
         values kept, the same --set renders three backends (checked below).",
    ),
];

/// A seed value key, a valid value for it, the values it is rendered on, and where it must land.
struct Alias {
    key: &'static str,
    sample: &'static str,
    values: Option<&'static str>,
    base: &'static [&'static str],
    lands: fn(&Rendered) -> Option<String>,
}

const ALIASES: &[Alias] = &[
    Alias {
        key: "secrets.DATABASE_URL",
        sample: "postgres://todo:runbook@db.example.com:5432/todo",
        values: None,
        base: &[],
        lands: |rendered| rendered.secret_data("todo-chatbot-secrets").get("DATABASE_URL").cloned(),
    },
    Alias {
        key: "secrets.BETTER_AUTH_SECRET",
        sample: "runbook-signing-key-0123456789abcdef-0123",
        values: Some(TARGET_VALUES),
        base: &[],
        lands: |rendered| rendered.secret_data("todo-chatbot-secrets").get("BETTER_AUTH_SECRET").cloned(),
    },
    Alias {
        key: "secrets.OPENAI_API_KEY",
        sample: "sk-runbook",
        values: Some(TARGET_VALUES),
        base: &[],
        lands: |rendered| rendered.secret_data("todo-chatbot-secrets").get("OPENAI_API_KEY").cloned(),
    },
    Alias {
        key: "backend.replicas",
        sample: "3",
        values: Some(TARGET_VALUES),
        base: &[],
        lands: |rendered| {
            rendered.get("Deployment", "todo-chatbot-backend")["spec"]["replicas"].as_u64().map(|n| n.to_string())
        },
    },
];

/// The runbook and where it came from.
fn seed_readme() -> (String, String) {
    let path = std::env::var("SEED_README").map_or_else(|_| root().join("docs/seed/README-PHASE4.md"), Into::into);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    (path.display().to_string(), text)
}

struct Context<'a> {
    helm: &'a Helm,
    target: Rendered,
    production: Rendered,
}

/// Ok(what was checked) or Err(what is wrong).
type Verdict = Result<String, String>;

#[test]
fn every_chart_command_of_the_seed_runbook_works_on_our_chart() {
    let Some(helm) = Helm::find() else { return };
    let (path, readme) = seed_readme();
    let context = Context {
        helm: &helm,
        target: helm.template(Some(TARGET_VALUES), &[]).expect("the dev render"),
        production: helm.render(&scenarios()[0]),
    };
    let commands: Vec<Command> = runbook::commands(&readme)
        .into_iter()
        .filter(|command| matches!(command.program(), "helm" | "kubectl" | "minikube"))
        .collect();
    assert!(commands.len() >= 20, "{path}: only {} helm/kubectl/minikube commands found", commands.len());
    let mut failures = Vec::new();
    let mut set_keys = Vec::new();
    for command in &commands {
        let verdict = match command.program() {
            "helm" => helm_command(&context, command, &mut set_keys),
            "kubectl" => kubectl_command(&context, command),
            _ => minikube_command(&context, command),
        };
        match &verdict {
            Ok(note) => eprintln!("ok    {path}:{} {}\n        {note}", command.line, command.text()),
            Err(problem) => {
                eprintln!("FAIL  {path}:{} {}\n        {problem}", command.line, command.text());
                failures.push(format!("{path}:{}: {}: {problem}", command.line, command.text()));
            }
        }
    }
    // Every value key the runbook passes: accepted by the schema, and it takes effect.
    set_keys.sort();
    set_keys.dedup();
    assert!(!set_keys.is_empty(), "no --set keys found in {path}");
    for key in &set_keys {
        if let Err(problem) = alias_takes_effect(&helm, key) {
            failures.push(format!("--set {key}: {problem}"));
        }
    }
    assert!(failures.is_empty(), "the seed's runbook fails on our chart:\n{}", failures.join("\n"));
}

fn alias_takes_effect(helm: &Helm, key: &str) -> Result<(), String> {
    let alias = ALIASES.iter().find(|alias| alias.key == key).ok_or_else(|| {
        format!("the runbook passes --set {key}, which has no check here: accept it in the chart and add it to ALIASES")
    })?;
    let set = format!("{}={}", alias.key, alias.sample);
    let mut sets: Vec<&str> = alias.base.to_vec();
    sets.push(&set);
    let rendered = helm.template(alias.values, &sets).map_err(|error| format!("refused: {error}"))?;
    match (alias.lands)(&rendered) {
        Some(value) if value == alias.sample => {
            eprintln!("ok    --set {set} is accepted and reaches the rendered objects");
            Ok(())
        }
        other => Err(format!("rendered, but the value did not arrive: {other:?}")),
    }
}

fn namespace_is_ours(command: &Command) -> Result<(), String> {
    match command.option(&["-n", "--namespace"]) {
        Some(NAMESPACE) | None => Ok(()),
        Some(other) => Err(format!("namespace {other}, but `just deploy` installs into {NAMESPACE}")),
    }
}

fn helm_command(context: &Context, command: &Command, set_keys: &mut Vec<String>) -> Verdict {
    namespace_is_ours(command)?;
    let positionals = command.positionals(&["-n", "--namespace", "--set", "--set-string", "-f", "--values"]);
    let subcommand = positionals.first().copied().unwrap_or_default();
    let release = positionals.get(1).copied();
    match subcommand {
        "list" => Ok("lists the namespace's releases".into()),
        "status" | "history" | "rollback" | "uninstall" => match release {
            Some(RELEASE) => Ok(format!("release {RELEASE} in {NAMESPACE}, as `just deploy` names it")),
            other => Err(format!("release {other:?}, but `just deploy` installs {RELEASE}")),
        },
        "lint" => {
            chart_is_ours(positionals.get(1).copied())?;
            let chart = chart_dir();
            context
                .helm
                .run(&["lint", chart.to_str().unwrap()])
                .map_err(|error| format!("helm lint failed: {error}"))?;
            Ok("helm lint passes".into())
        }
        "template" | "upgrade" | "install" => {
            if release != Some(RELEASE) {
                return Err(format!("release {release:?}, but `just deploy` installs {RELEASE}"));
            }
            chart_is_ours(positionals.get(2).copied())?;
            if !command.options(&["-f", "--values"]).is_empty() {
                return Err("a values file: add a rule for it here".into());
            }
            let sets: Vec<String> = command.options(&["--set"]).iter().map(|set| with_sample(set)).collect();
            for set in &sets {
                set_keys.push(set.split_once('=').map_or(set.as_str(), |(key, _)| key).to_owned());
            }
            render_as_helm_would(context, subcommand, &sets)
        }
        other => Err(format!("no rule for `helm {other}`: add one")),
    }
}

fn chart_is_ours(path: Option<&str>) -> Result<(), String> {
    match path {
        Some(CHART_PATH) => Ok(()),
        other => Err(format!("chart {other:?}, but ours is {CHART_PATH}")),
    }
}

/// A `<placeholder>` value replaced by a valid value of that key.
fn with_sample(set: &str) -> String {
    match set.split_once('=') {
        Some((key, value)) if value.starts_with('<') && value.ends_with('>') => {
            let sample = ALIASES.iter().find(|alias| alias.key == key).map_or(value, |alias| alias.sample);
            format!("{key}={sample}")
        }
        _ => set.to_owned(),
    }
}

/// `helm template` with the command's own flags on the chart's defaults: what helm install, and
/// helm upgrade without --reuse-values, render.
fn render_as_helm_would(context: &Context, subcommand: &str, sets: &[String]) -> Verdict {
    let chart = chart_dir();
    let mut args = vec!["template", RELEASE, chart.to_str().unwrap(), "--namespace", NAMESPACE];
    if subcommand == "upgrade" {
        args.push("--is-upgrade");
    }
    for set in sets {
        args.extend(["--set", set]);
    }
    let refusal = REFUSED.iter().find(|(sub, set, _, _)| *sub == subcommand && sets.iter().any(|s| s == set));
    match (context.helm.run(&args), refusal) {
        (Ok(_), None) => Ok("renders with the chart's defaults and these values".into()),
        (Err(error), None) => Err(format!("helm refuses it: {error}")),
        (Ok(_), Some(_)) => Err("listed in REFUSED but renders now: remove it from the list".into()),
        (Err(error), Some((_, _, expected, why))) => {
            for text in *expected {
                if !error.contains(text) {
                    return Err(format!("refused, but the message does not say {text:?}: {error}"));
                }
            }
            if subcommand == "upgrade" {
                // The same upgrade with the release's values kept (--reuse-values) works.
                let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
                context
                    .helm
                    .template(Some(TARGET_VALUES), &sets)
                    .map_err(|error| format!("with --reuse-values: {error}"))?;
            }
            Ok(format!("refused on purpose with a clear message: {why}"))
        }
    }
}

/// Workloads (kind/name) whose pods a label selector `k=v[,k=v]` selects in the render.
fn selected_workloads(rendered: &Rendered, selector: &str) -> Vec<String> {
    let wanted: std::collections::BTreeMap<String, String> = selector
        .split(',')
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect();
    rendered
        .pod_templates()
        .into_iter()
        .filter(|(workload, _)| !workload.starts_with("Pod/")) // helm test pods exist only during `helm test`
        .filter(|(_, template)| selects(&wanted, &mapping(&template["metadata"]["labels"])))
        .map(|(workload, _)| workload)
        .collect()
}

fn kind_of(resource: &str) -> Option<&'static str> {
    Some(match resource {
        "pod" | "pods" | "po" => "Pod",
        "deployment" | "deployments" | "deploy" => "Deployment",
        "service" | "services" | "svc" => "Service",
        "configmap" | "configmaps" | "cm" => "ConfigMap",
        "secret" | "secrets" => "Secret",
        "hpa" | "horizontalpodautoscaler" => "HorizontalPodAutoscaler",
        // An Endpoints object exists for each Service with a selector.
        "endpoints" | "ep" => "Service",
        "namespace" | "namespaces" | "ns" => "Namespace",
        "all" => "all",
        _ => return None,
    })
}

fn kubectl_command(context: &Context, command: &Command) -> Verdict {
    let positionals =
        command.positionals(&["-n", "--namespace", "-l", "--selector", "-o", "--tail", "--field-selector"]);
    let subcommand = positionals.first().copied().unwrap_or_default();
    let target = &context.target;
    if subcommand == "delete" && positionals.get(1).copied().and_then(kind_of) == Some("Namespace") {
        return match positionals.get(2) {
            Some(&NAMESPACE) => Ok(format!("namespace {NAMESPACE}, where `just deploy` installs")),
            other => Err(format!("namespace {other:?}, but ours is {NAMESPACE}")),
        };
    }
    namespace_is_ours(command)?;
    if let Some(selector) = command.option(&["-l", "--selector"]) {
        let workloads = selected_workloads(target, selector);
        return match workloads.as_slice() {
            [one] => Ok(format!("-l {selector} selects the pods of {one}")),
            [] => Err(format!("-l {selector} selects no pod of the release")),
            many => Err(format!("-l {selector} selects the pods of several workloads: {many:?}")),
        };
    }
    match subcommand {
        "logs" => match positionals.get(1) {
            Some(pod) if pod.starts_with('<') => Ok(format!("{pod} is the reader's choice from `kubectl get pods`")),
            other => Err(format!("logs of {other:?}: add a rule")),
        },
        "port-forward" => {
            let (resource, ports) = (positionals.get(1).copied().unwrap_or_default(), positionals.get(2).copied());
            let name = resource.strip_prefix("service/").or_else(|| resource.strip_prefix("svc/"));
            let name = name.ok_or_else(|| format!("port-forward to {resource}: add a rule"))?;
            let service = target.find("Service", name).ok_or_else(|| format!("no Service {name} in the render"))?;
            let remote = ports.and_then(|ports| ports.rsplit(':').next()).and_then(|port| port.parse::<u64>().ok());
            let has_port = service["spec"]["ports"]
                .as_sequence()
                .into_iter()
                .flatten()
                .any(|port| port["port"].as_u64() == remote);
            if has_port {
                Ok(format!("Service {name} serves port {}", remote.unwrap_or_default()))
            } else {
                Err(format!("Service {name} has no port {remote:?}"))
            }
        }
        "get" | "describe" | "scale" | "top" | "delete" => {
            let resource = positionals.get(1).copied().unwrap_or_default();
            let (resource, name) = match resource.split_once('/') {
                Some((resource, name)) => (resource, Some(name)),
                None => (resource, positionals.get(2).copied()),
            };
            let kind = kind_of(resource).ok_or_else(|| format!("kubectl {subcommand} {resource}: add a rule"))?;
            match (kind, name) {
                ("all", _) => Ok("lists everything in the namespace".into()),
                ("Pod", None) if subcommand == "top" => {
                    Ok("needs metrics-server (`minikube addons enable metrics-server`); the pods are the release's"
                        .into())
                }
                ("Pod", None) => Ok(format!(
                    "pods of {} workloads are rendered",
                    selected_workloads(target, "app.kubernetes.io/instance=todo-chatbot").len()
                )),
                (kind, Some(name)) => target
                    .find(kind, name)
                    .map(|_| format!("{kind} {name} is rendered"))
                    .ok_or_else(|| format!("no {kind} {name} in the render")),
                (kind, None) if target.of_kind(kind).next().is_some() => Ok(format!("{kind} objects are rendered")),
                (kind, None) if context.production.of_kind(kind).next().is_some() => Ok(format!(
                    "values-dev.yaml renders no {kind} (bare minikube has no metrics-server); values.yaml and prod do"
                )),
                (kind, None) => Err(format!("the chart renders no {kind}")),
            }
        }
        other => Err(format!("no rule for `kubectl {other}`: add one")),
    }
}

fn minikube_command(context: &Context, command: &Command) -> Verdict {
    let positionals = command.positionals(&["-n", "--namespace"]);
    match positionals.first().copied().unwrap_or_default() {
        "service" => {
            namespace_is_ours(command)?;
            let name = positionals.get(1).copied().unwrap_or_default();
            let service =
                context.target.find("Service", name).ok_or_else(|| format!("no Service {name} in the render"))?;
            match service["spec"]["type"].as_str() {
                Some(kind @ ("NodePort" | "LoadBalancer")) => Ok(format!("Service {name} is a {kind}")),
                other => Err(format!("Service {name} is {other:?}: minikube service needs a node port on Linux")),
            }
        }
        "start" => {
            // Not the chart's, but its kubeVersion floor: minikube 1.32 (the seed's minimum)
            // starts Kubernetes 1.28, which helm refuses; our README says how to start 1.30+.
            let readme = std::fs::read_to_string(chart_dir().join("README.md")).unwrap_or_default();
            if readme.contains("minikube start") && readme.contains("--kubernetes-version=v1.30") {
                Ok("cluster start; the chart README gives the --kubernetes-version the chart needs".into())
            } else {
                Err("helm/todo-chatbot/README.md must say `minikube start --kubernetes-version=v1.30.0` (kubeVersion >= 1.30)".into())
            }
        }
        "status" | "stop" | "delete" | "docker-env" => {
            Ok("not applicable: the cluster's or the host's own tooling, nothing of the chart".into())
        }
        other => Err(format!("no rule for `minikube {other}`: add one")),
    }
}

/// The rules must be able to fail: a wrong name, selector, port or key is caught.
#[test]
fn the_runbook_rules_catch_what_does_not_exist() {
    let Some(helm) = Helm::find() else { return };
    let context = Context {
        helm: &helm,
        target: helm.template(Some(TARGET_VALUES), &[]).expect("dev render"),
        production: helm.render(&scenarios()[0]),
    };
    let readme = "```\nkubectl logs -n todo-chatbot -l app.kubernetes.io/component=frontdoor\n\
        kubectl port-forward -n todo-chatbot service/todo-chatbot-frontend 3000:8080\n\
        kubectl get configmap todo-chatbot-settings -n todo-chatbot\n\
        kubectl get pods -n other\n\
        minikube service todo-chatbot-backend -n todo-chatbot\n\
        helm status other -n todo-chatbot\n\
        helm upgrade todo-chatbot ./helm/todo-chatbot -n todo-chatbot --set backend.replicaz=3\n```\n";
    for command in runbook::commands(readme) {
        let verdict = match command.program() {
            "helm" => helm_command(&context, &command, &mut Vec::new()),
            "kubectl" => kubectl_command(&context, &command),
            _ => minikube_command(&context, &command),
        };
        assert!(verdict.is_err(), "{} passed: {verdict:?}", command.text());
    }
    assert!(alias_takes_effect(&helm, "backend.replicaz").is_err());
}
