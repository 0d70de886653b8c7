"""Renders every `helm install`/`helm upgrade` of a workflow's run steps with `helm template`.

Usage: check-workflow-helm.py WORKFLOW.yml HELM   (run by scripts/chart-check.sh)

The commands are read from the workflow itself, so this check cannot drift from what GitHub
runs: a value helm cannot parse (a `--set` split at its commas) or the schema refuses fails
here instead of after a 20-minute build on a kind cluster. Each command becomes
`helm template RELEASE CHART --namespace NS` plus its --set/--values flags, in order;
`--reuse-values` stands for the values `just deploy dev` installed (values-dev.yaml).
"""

import os
import re
import shlex
import subprocess
import sys

import yaml

DEPLOYED_VALUES = "helm/todo-chatbot/values-dev.yaml"
# Flags copied to helm template, each followed by its value.
VALUE_FLAGS = {"--set", "--set-string", "--set-file", "--set-json", "--values", "-f"}
# Flags that only matter against a cluster: dropped (those with a value drop it too).
CLUSTER_FLAGS = {"--install", "--wait", "--atomic", "--rollback-on-failure", "--create-namespace", "--force"}
CLUSTER_VALUE_FLAGS = {"--timeout"}


def fail(message):
    sys.exit(f"check-workflow-helm: {message}")


def expand(word, env, where):
    def variable(match):
        name = match.group(1) or match.group(2)
        if name not in env:
            fail(f"{where}: ${name} is not set in the workflow's env")
        return str(env[name])

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", variable, word)


def template_args(words, env, where):
    """helm upgrade|install ... → helm template ..., or None for other subcommands."""
    if len(words) < 2 or words[1] not in ("upgrade", "install"):
        return None
    positional, flags, namespace = [], [], None
    rest = iter(words[2:])
    for word in rest:
        flag, has_value, inline = word.partition("=")
        if flag in VALUE_FLAGS:
            value = inline if has_value else next(rest, None)
            if value is None:
                fail(f"{where}: {flag} without a value")
            flags += [flag, expand(value, env, where)]
        elif flag in ("-n", "--namespace"):
            namespace = expand(inline if has_value else next(rest), env, where)
        elif flag == "--reuse-values":
            flags = ["--values", DEPLOYED_VALUES] + flags
        elif flag in CLUSTER_FLAGS:
            pass
        elif flag in CLUSTER_VALUE_FLAGS:
            if not has_value:
                next(rest)
        elif word.startswith("-"):
            fail(f"{where}: unknown helm flag {word}: teach scripts/check-workflow-helm.py what it does")
        else:
            positional.append(expand(word, env, where))
    if len(positional) != 2:
        fail(f"{where}: expected RELEASE and CHART, got {positional}")
    if namespace is None:
        fail(f"{where}: no --namespace (the release would land in the default namespace)")
    return ["template", positional[0], positional[1], "--namespace", namespace] + flags


def main():
    workflow_path, helm = sys.argv[1], sys.argv[2]
    with open(workflow_path) as file:
        workflow = yaml.safe_load(file)
    rendered = 0
    for job_name, job in workflow["jobs"].items():
        job_env = {**workflow.get("env", {}), **job.get("env", {}), **os.environ}
        for step in job["steps"]:
            script = step.get("run")
            if not script:
                continue
            env = {**job_env, **step.get("env", {})}
            where = f"{workflow_path}: {job_name}: {step.get('name', 'a step')}"
            # One logical line per command: continuation lines joined, as the shell reads them.
            for line in re.sub(r"\\\n", " ", script).splitlines():
                # Only lines that start a helm command are split: other lines may sit inside a
                # multi-line quoted string of another command.
                if not re.match(r"\s*helm\s", line):
                    continue
                words = shlex.split(line, comments=True)
                args = template_args(words, env, where)
                if args is None:
                    print(f"{where}: helm {words[1]}: needs a cluster, not rendered")
                    continue
                result = subprocess.run([helm] + args, capture_output=True, text=True)
                if result.returncode != 0:
                    fail(f"{where}:\n  {shlex.join(words)}\nfails as\n  helm {shlex.join(args)}\n{result.stderr}")
                rendered += 1
                print(f"{where}: helm {words[1]} renders ({result.stdout.count('kind:')} objects)")
    if rendered == 0:
        fail(f"{workflow_path}: no helm install/upgrade found; this check would check nothing")


main()
