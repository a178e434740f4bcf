"""The deployment files, checked without a Docker engine or a cluster: the Dockerfile
linted (hadolint) and its install steps run from a built wheel; the compose file validated
against the Compose specification; every Kubernetes overlay rendered (`kubectl kustomize`)
and validated against Kubernetes' schemas; and all of them checked against the app itself
(settings, ports, probes, commands)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import kubernetes_validate
import pytest
import yaml

from bot.cli import _parser
from bot.routing.policy import load_policy
from bot.settings import Settings
from tests.conftest import TEST_REDIS_URL
from tests.fakes.serve_process import ServeRun, clean_env, free_port
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack
from tests.fakes.slack_requests import SIGNING_SECRET

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
K8S = DEPLOY / "k8s"
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir() if p.is_dir())
BIN = Path(sys.executable).parent
# Kubernetes releases the manifests must be valid for: the oldest still supported by the
# major clouds and the newest kubernetes-validate knows.
K8S_VERSIONS = ("1.31.0", kubernetes_validate.latest_version())
SETTINGS = {name.upper() for name in Settings.model_fields}
APP_PATHS = {"/healthz", "/readyz", "/metrics", "/slack/events"}


def run(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - tools of the test environment
        [str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=300, check=False
    )


# ---- Dockerfile ------------------------------------------------------------------------


def instructions(text: str) -> Iterator[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(
        line for line in text.splitlines() if not line.lstrip().startswith("#")
    ))  # fmt: skip
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            yield word.upper(), rest.strip()


def final_stage(text: str) -> list[tuple[str, str]]:
    steps = list(instructions(text))
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last_from:]


def test_hadolint_passes_the_dockerfile_and_fails_a_bad_one(tmp_path: Path) -> None:
    result = run(BIN / "hadolint", DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN apt-get install gcc\nCMD hearthbot serve\n")
    result = run(BIN / "hadolint", bad)
    assert result.returncode != 0
    assert "DL3006" in result.stdout  # the image's tag: the linter really ran


def test_the_runtime_image_runs_the_app_as_a_non_root_user_without_compilers() -> None:
    final = final_stage(DOCKERFILE.read_text())
    words = dict(final)
    assert words["USER"] not in {"root", "0"}
    assert json.loads(words["ENTRYPOINT"]) == ["hearthbot"]
    cmd = json.loads(words["CMD"])
    _parser().parse_args(cmd)  # a command the app knows
    assert words["EXPOSE"] == str(Settings.model_fields["port"].default)
    runs = " ".join(args for word, args in final if word == "RUN")
    for absent in ("apt-get", "build-essential", "-e ", "--editable"):
        assert absent not in runs
    assert "--no-index" in runs  # nothing fetched in the runtime stage
    healthcheck = words["HEALTHCHECK"]
    assert "/healthz" in healthcheck
    # The embedded model only when the build argument says so.
    assert re.search(r'if \[ "\$EMBEDDED_MODEL" = "1" \]', DOCKERFILE.read_text())


def test_dockerignore_keeps_secrets_out_and_lets_in_what_the_build_copies() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"  # nothing unless listed
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = set()
    for word, args in instructions(DOCKERFILE.read_text()):
        if word == "COPY" and "--from" not in args:
            copied.update(args.split()[:-1])
    assert copied <= allowed
    assert not {".env", "tests", ".git", "node_modules"} & allowed


def test_the_image_carries_chart_js_where_the_console_looks_for_it() -> None:
    """The assets stage copies Chart.js into the package, at the path the console serves
    first, and the package data takes it into the wheel."""
    from bot.console.web import CHART_JS_CANDIDATES

    copies = [
        args.split()
        for word, args in instructions(DOCKERFILE.read_text())
        if word == "COPY" and args.startswith("--from=assets")
    ]
    assert len(copies) == 1
    _, source, target = copies[0]
    assert source.endswith("node_modules/chart.js/dist/chart.umd.min.js")
    in_package = CHART_JS_CANDIDATES[0].relative_to(ROOT)
    assert (Path(target) / Path(source).name) == Path("bot/console/static/vendor/chart.umd.min.js")
    assert in_package == Path("bot/console/static/vendor/chart.umd.min.js")
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "static/vendor/*.js" in data["package-data"]["bot.console"]
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/chart.js"]["version"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The app as the image installs it: a wheel built from this checkout, unpacked where
    no source tree is (pip installs it without dependencies: ours serve)."""
    tmp = tmp_path_factory.mktemp("image")
    # Built from a copy of what the image copies: setuptools writes build/ into the source
    # tree, which two test workers building at once would share.
    source = tmp / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "vendor")
    for name in ("bot", "prompts"):
        shutil.copytree(ROOT / name, source / name, symlinks=True, ignore=ignore)
    result = run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp, source)
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp.glob("hearthbot-*.whl")
    site = tmp / "site"
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index"]
    result = run(*pip, "--target", site, wheel)
    assert result.returncode == 0, result.stderr
    return site


def path_with(site: Path) -> str:
    """The installed package first, then our dependencies (a PYTHONPATH entry is not scanned
    for .pth files, so this checkout's editable install of `bot` is not seen)."""
    return f"{site}{os.pathsep}{sysconfig.get_path('purelib')}"


def test_the_wheel_is_self_contained(installed: Path, tmp_path: Path) -> None:
    code = "import bot, bot.llm.prompts as p; print(bot.__file__); print(p.Prompts.load())"
    result = subprocess.run(  # noqa: S603 - the interpreter running these tests
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": path_with(installed), "PATH": os.environ["PATH"]},
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    where, prompts = result.stdout.splitlines()
    assert Path(where).is_relative_to(installed)  # not this checkout
    assert (ROOT / "prompts" / "answer_system.md").read_text().strip()[:40] in prompts
    # The console's pages, styles and scripts travel in the wheel too.
    console = installed / "bot" / "console"
    for name in ("base.html", "playground.html", "audit.html", "policy.html", "login.html"):
        assert (console / "templates" / name).is_file(), name
    for name in ("console.css", "playground.js", "audit.js"):
        assert (console / "static" / name).is_file(), name


async def test_the_image_entry_point_and_healthcheck_work(
    installed: Path, tmp_path: Path, slack: FakeSlack
) -> None:
    """Start the installed app as the image's ENTRYPOINT and CMD do, from an empty
    directory; the image's HEALTHCHECK command passes against it; every path the manifests
    probe or scrape is served."""
    port = free_port()
    env = clean_env(
        TEST_REDIS_URL,
        PYTHONPATH=path_with(installed),
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
        LOCAL_MODEL="openai:local",
        LOCAL_BASE_URL="http://127.0.0.1:9/v1",
        PORT=str(port),
        REDIS_PREFIX=f"hearthbot-image-{port}",
    )
    words = dict(final_stage(DOCKERFILE.read_text()))
    entry, *args = [*json.loads(words["ENTRYPOINT"]), *json.loads(words["CMD"])]
    assert entry == "hearthbot"
    code = "import sys; from bot.cli import main; sys.exit(main())"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, *args, env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    serve = ServeRun(process, port)
    try:
        await serve.wait_healthy()
        healthcheck = json.loads(words["HEALTHCHECK"].split(" CMD ", 1)[1])
        assert healthcheck[0] == "python"
        probe = await asyncio.create_subprocess_exec(sys.executable, *healthcheck[1:], env=env)
        assert await probe.wait() == 0
        async with aiohttp.ClientSession() as session:
            for path in sorted(APP_PATHS - {"/slack/events"}):
                async with session.get(f"{serve.base_url}{path}") as resp:
                    assert resp.status != 404, path
    finally:
        serve.signal()
        await serve.stopped()
    assert serve.returncode == 0, serve.stderr
    assert '"hearthbot serving"' in serve.stderr


# ---- Compose -----------------------------------------------------------------------------


COMPOSE = DEPLOY / "compose.yaml"


def test_compose_file_is_valid_against_the_compose_specification(tmp_path: Path) -> None:
    result = run(BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / "compose.yaml"
    data = yaml.safe_load(COMPOSE.read_text())
    data["services"]["redis"]["restart_policy"] = "always"  # not a Compose key
    broken.write_text(yaml.safe_dump(data))
    result = run(BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", broken)
    assert result.returncode != 0


def compose_shell(script: str) -> str:
    """A compose file's shell script as the container's sh sees it ($$ is a literal $)."""
    return script.replace("$$", "$")


def test_compose_shell_scripts_parse_and_pull_only_ollama_models() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    scripts = [
        services["redis"]["command"][-1],
        services["redis"]["healthcheck"]["test"][-1],
        services["ollama-pull"]["entrypoint"][-1],
    ]
    for script in scripts:
        assert run("sh", "-n", "-c", compose_shell(script)).returncode == 0, script
    pull = compose_shell(scripts[-1]).replace("exec ollama pull", "echo pulling")
    for model, said in (
        ("ollama:llama3.2:3b", "pulling llama3.2:3b"),
        ("openai:Qwen/Qwen2.5-7B-Instruct", "LOCAL_MODEL is not an Ollama model: nothing to pull"),
    ):
        result = subprocess.run(  # noqa: S603 - the script under test
            ["/bin/sh", "-c", pull], env={"LOCAL_MODEL": model}, capture_output=True, text=True,
            timeout=10, check=False,
        )  # fmt: skip
        assert result.stdout.strip() == said
    refused = subprocess.run(  # noqa: S603
        ["/bin/sh", "-c", compose_shell(scripts[0]).replace("exec redis-server", "exec true")],
        env={}, capture_output=True, text=True, timeout=10, check=False,
    )  # fmt: skip
    assert refused.returncode == 1
    assert "set REDIS_PASSWORD in .env" in refused.stderr


def test_compose_stack_is_wired_to_the_app() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    app = services["hearthbot"]
    assert app["build"]["dockerfile"] == "deploy/Dockerfile"
    assert app["build"]["args"]["EMBEDDED_MODEL"] == "0"
    assert set(app["environment"]) <= SETTINGS
    assert app["environment"]["PORT"] == "3000"
    assert app["ports"] == ["3000:3000"]
    assert app["depends_on"]["redis"]["condition"] == "service_healthy"
    assert app["depends_on"]["ollama-pull"]["condition"] == "service_completed_successfully"
    redis_command = " ".join(services["redis"]["command"])
    for flag in ("--appendonly yes", "--maxmemory-policy noeviction", "--requirepass"):
        assert flag in redis_command
    assert services["vllm"]["profiles"] == ["vllm"]
    # The variables the stack reads from .env exist in .env.example.
    example = (ROOT / ".env.example").read_text()
    assert re.search(r"^REDIS_PASSWORD=", example, re.M)


# ---- Kubernetes --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """Every overlay rendered by kubectl's kustomize, with the example secrets filled in."""
    kubectl = shutil.which("kubectl")
    assert kubectl is not None, "kubectl (with its built-in kustomize) is needed: install kubectl"
    copy = tmp_path_factory.mktemp("k8s") / "k8s"
    shutil.copytree(K8S, copy)
    shutil.copy(copy / "base" / "secrets.env.example", copy / "base" / "secrets.env")
    out: dict[str, list[dict[str, Any]]] = {}
    for overlay in OVERLAYS:
        result = run(kubectl, "kustomize", copy / "overlays" / overlay)
        assert result.returncode == 0, result.stderr
        out[overlay] = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return out


def test_there_are_overlays_for_ollama_vllm_and_socket_mode() -> None:
    assert OVERLAYS == ["ollama", "socket-mode", "vllm"]


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_overlay_is_valid_kubernetes(
    rendered: dict[str, list[dict[str, Any]]], version: str
) -> None:
    for overlay, docs in rendered.items():
        for doc in docs:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{overlay}: {doc['kind']}/{doc['metadata']['name']}: {exc.message}")


def test_schema_validation_catches_a_mistake(rendered: dict[str, list[dict[str, Any]]]) -> None:
    broken = json.loads(json.dumps(by_kind(rendered["ollama"], "Deployment")))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["pathh"] = "/x"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSIONS[-1], strict=True)


def by_kind(docs: list[dict[str, Any]], kind: str, name: str = "hearthbot") -> dict[str, Any]:
    (found,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def app_config(docs: list[dict[str, Any]]) -> dict[str, str]:
    """The data of the app's generated ConfigMap (its name carries a hash)."""
    (config,) = [
        d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith(
            "hearthbot-config-"
        )
    ]  # fmt: skip
    return dict(config["data"])


def test_manifests_match_the_app(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for overlay, docs in rendered.items():
        deployment = by_kind(docs, "Deployment")
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        args = _parser().parse_args(container["args"])
        assert args.command == "serve"
        assert args.socket == (overlay == "socket-mode")
        (port,) = container["ports"]
        assert port["containerPort"] == args.port
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            assert container[probe]["httpGet"] == {"path": path, "port": "http"}
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert pod["securityContext"]["runAsNonRoot"] is True
        # Every variable the manifests set is a hearthbot setting, and together they load.
        config = app_config(docs)
        secret_keys = set(
            line.split("=", 1)[0]
            for line in (K8S / "base" / "secrets.env.example").read_text().splitlines()
            if line and not line.startswith("#")
        )
        assert set(config) <= SETTINGS
        assert secret_keys <= SETTINGS | {"SLACK_APP_TOKEN"}
        assert Settings(
            _env_file=None,  # type: ignore[call-arg]
            **{k.lower(): v for k, v in config.items() if k != "POLICY_FILE"},
            slack_bot_token="xoxb-1",
        ).local_url
        service = by_kind(docs, "Service")
        assert service["spec"]["ports"][0]["targetPort"] == "http"
        assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
        ingresses = [d for d in docs if d["kind"] == "Ingress"]
        if overlay == "socket-mode":
            assert ingresses == []
        else:
            (ingress,) = ingresses
            paths = [p["path"] for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
            assert paths == ["/slack/events"]  # /metrics and the probes stay inside


def test_network_policy_lets_hearthbot_reach_only_its_dependencies(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    for overlay, docs in rendered.items():
        policy = by_kind(docs, "NetworkPolicy")
        assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
        ports = sorted(p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"])
        model_port = 8000 if overlay == "vllm" else 11434
        assert ports == sorted([53, 53, 6379, 6380, 26379, model_port, 443])
        # Every rule names where it may go; Redis' ports only inside the private ranges.
        assert all(rule.get("to") for rule in policy["spec"]["egress"])
        (redis_rule,) = [
            r for r in policy["spec"]["egress"] if any(p["port"] == 6379 for p in r["ports"])
        ]
        assert sorted(p["port"] for p in redis_rule["ports"]) == [6379, 6380, 26379]
        cidrs = sorted(t["ipBlock"]["cidr"] for t in redis_rule["to"] if "ipBlock" in t)
        assert cidrs == ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
        model = [
            r for r in policy["spec"]["egress"]
            if any(p["port"] == model_port for p in r["ports"])
        ]  # fmt: skip
        (model_rule,) = model
        assert model_rule["to"][0]["podSelector"]["matchLabels"] == {
            "app.kubernetes.io/name": "vllm" if overlay == "vllm" else "ollama"
        }
        outside = [
            r for r in policy["spec"]["egress"]
            if any(t.get("ipBlock", {}).get("cidr") == "0.0.0.0/0" for t in r["to"])
        ]  # fmt: skip
        (rule,) = outside
        assert [p["port"] for p in rule["ports"]] == [443]
        assert "10.0.0.0/8" in rule["to"][0]["ipBlock"]["except"]
        assert f":{model_port}" in app_config(docs)["LOCAL_BASE_URL"]


def test_ollama_pulls_the_model_the_app_asks_for(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    for overlay in ("ollama", "socket-mode"):
        docs = rendered[overlay]
        pod = by_kind(docs, "StatefulSet", "ollama")["spec"]["template"]["spec"]
        (pull,) = pod["initContainers"]
        (model,) = [e["value"] for e in pull["env"] if e["name"] == "MODEL"]
        assert app_config(docs)["LOCAL_MODEL"] == f"ollama:{model}"
        script = pull["command"][-1]
        assert 'ollama pull "$MODEL"' in script
        assert "%1" not in script  # no job control in a non-interactive sh
    compose = yaml.safe_load(COMPOSE.read_text())["services"]
    assert "ollama pull" in compose["ollama-pull"]["entrypoint"][-1]


def test_the_policy_file_loads(tmp_path: Path) -> None:
    policy = load_policy(K8S / "base" / "policy.yaml")
    assert policy.confidential_channels


def test_secrets_env_is_never_committed() -> None:
    assert "deploy/k8s/base/secrets.env" in (ROOT / ".gitignore").read_text().splitlines()
    listed = run("git", "ls-files", "deploy/k8s").stdout.split()
    assert "deploy/k8s/base/secrets.env" not in listed


def test_vllm_tensor_parallel_setting_is_documented() -> None:
    text = (K8S / "overlays" / "vllm" / "vllm.yaml").read_text()
    assert "--tensor-parallel-size" in text
    docs = [d for d in yaml.safe_load_all(text) if d]
    pod = by_kind(docs, "Deployment", "vllm")["spec"]["template"]["spec"]
    assert pod["nodeSelector"]
    assert pod["tolerations"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
