"""The Compose stack without Docker, run by tests/test_compose_rehearsal.py inside a network
namespace of its own, where the services' names (redis, ollama, hearthbot) resolve to its
loopback and their ports are free.

It follows the README's "Docker Compose" steps: a `.env` made from `.env.example`, then
each service started with what `deploy/compose.yaml` gives it:
- Redis: the compose file's own shell command, with the variables of `.env` (env_file);
- Ollama: the Ollama fake, speaking Ollama's API on its port, serving the model the
  one-shot pull service would have pulled;
- hearthbot: the image's ENTRYPOINT and CMD, in an empty directory, with `.env` overlaid by
  the service's `environment` (compose's precedence), interpolated as compose does.
Slack is the fake. Then `hearthbot doctor` and one signed /ask. Prints a JSON report.

    python tests/compose_rehearsal.py WORKDIR
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes.loopback import wait_until  # noqa: E402
from tests.fakes.model_servers import FakeModelServer  # noqa: E402
from tests.fakes.serve_process import ServeRun  # noqa: E402
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack, conversation  # noqa: E402
from tests.fakes.slack_requests import SIGNING_SECRET, SlackSender, slash_form  # noqa: E402

REDIS_PASSWORD = "rehearsal-redis-password"
DEFAULT = re.compile(r"\$\{([A-Z_]+):-([^${}]*)\}")


def interpolate(value: str, shell: dict[str, str]) -> str:
    """Compose's `${NAME:-default}`, innermost first (nested defaults), `$$` as `$`."""
    while True:
        replaced = DEFAULT.sub(lambda m: shell.get(m.group(1)) or m.group(2), value)
        if replaced == value:
            return replaced.replace("$$", "$")
        value = replaced


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines, as compose reads an env_file (comments and blanks skipped)."""
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def make_env_file(workdir: Path, slack_api_url: str, key: str) -> Path:
    """README step 1: copy .env.example to .env and fill in what it asks for."""
    filled = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack_api_url,
        "REDIS_PASSWORD": REDIS_PASSWORD,
        "MEMORY_ENCRYPTION_KEY": key,
    }
    lines = []
    for line in (ROOT / ".env.example").read_text().splitlines():
        name = line.partition("=")[0]
        lines.append(f"{name}={filled[name]}" if name in filled and "=" in line else line)
    env_file = workdir / ".env"
    env_file.write_text("\n".join(lines) + "\n")
    return env_file


async def run(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *args, env=env, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def rehearse(workdir: Path) -> dict[str, Any]:
    services = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())["services"]
    base = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "PYTHONPATH"}}
    report: dict[str, Any] = {}
    slack = await FakeSlack().start()
    slack.channels["C0PRIVATE1"] = conversation("private", "C0PRIVATE1", "deals")
    # Ollama on its own port; its name is the model the pull service pulls by default.
    pull_env = {
        k: interpolate(str(v), {}) for k, v in services["ollama-pull"]["environment"].items()
    }
    model = pull_env["LOCAL_MODEL"].removeprefix("ollama:")
    ollama = FakeModelServer(model, "ollama")
    await ollama.start(port=11434)
    redis_process = None
    hearthbot: ServeRun | None = None
    try:
        _, key, _ = await run(sys.executable, "-m", "bot", "keygen", env=base, cwd=workdir)
        env_file = read_env_file(make_env_file(workdir, slack.api_url, key.strip()))

        # Redis, with the compose file's command and the variables of .env.
        data = workdir / "redis-data"
        data.mkdir()
        command = [interpolate(part, {}) for part in services["redis"]["command"]]
        redis_process = await asyncio.create_subprocess_exec(
            *command, env={**base, **env_file}, cwd=data,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        health = interpolate(services["redis"]["healthcheck"]["test"][-1], {})
        for _ in range(100):
            code, _, _ = await run("sh", "-c", health, env={**base, **env_file}, cwd=data)
            if code == 0:
                break
            await asyncio.sleep(0.1)
        report["redis_healthy"] = code == 0

        # hearthbot: .env, then the service's environment (which wins), as compose merges.
        app = services["hearthbot"]
        environment = {k: interpolate(str(v), {}) for k, v in app["environment"].items()}
        app_env = {**base, **env_file, **environment}
        report["app_environment"] = environment
        empty = workdir / "home"
        empty.mkdir()
        port = int(app["ports"][0].split(":")[1])
        code_line = "import sys; from bot.cli import main; sys.exit(main())"
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", code_line, "serve", env=app_env, cwd=empty,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        hearthbot = ServeRun(process, port)
        await hearthbot.wait_healthy()

        # README step 3: hearthbot doctor, inside the app's container.
        code, out, _ = await run(sys.executable, "-c", code_line, "doctor", env=app_env, cwd=empty)
        report["doctor_exit"] = code
        report["doctor"] = out.splitlines()

        # One /ask in a private channel, through http://hearthbot:3000 as Slack would.
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://hearthbot:{port}/readyz") as resp:
                report["readyz"] = resp.status
            sender = SlackSender(session, f"http://hearthbot:{port}/slack/events")
            question = "what did legal say about the merger"
            status, _, _ = await sender.command(
                slash_form(question, "C0PRIVATE1", "privategroup", slack.response_url())
            )
            report["ask_status"] = status

            def answered() -> bool:
                return any(f"answer from {model}" in p.get("text", "") for p in slack.posts)

            await wait_until(answered, "the answer", 30)
        report["answer"] = next(p["text"] for p in slack.posts if "answer from" in p["text"])
    finally:
        if hearthbot is not None:
            hearthbot.signal()
            await hearthbot.stopped()
            report["hearthbot_exit"] = hearthbot.returncode
            report["hearthbot_log_has_question"] = "merger" in hearthbot.stderr
        if redis_process is not None:
            redis_process.terminate()
            await redis_process.wait()
        await ollama.stop()
        await slack.stop()
    # What Redis kept on disk (the append-only file compose's command turns on).
    report["aof_files"] = sorted(p.name for p in (workdir / "redis-data").rglob("*") if p.is_file())
    return report


if __name__ == "__main__":
    print(json.dumps(asyncio.run(rehearse(Path(sys.argv[1])))))
