"""deploy/compose.yaml rehearsed without a Docker engine: each service started as compose
would start it (tests/compose_rehearsal.py), in a network namespace where the services'
names resolve and their ports are free, following the README's Compose steps."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


IP = shutil.which("ip") or "/usr/sbin/ip"


def ip(*args: str, check: bool = True) -> None:
    subprocess.run([IP, *args], check=check, timeout=30)  # noqa: S603 - iproute2


@pytest.fixture
def namespace() -> Iterator[str]:
    """A network namespace with its loopback up, where redis, ollama and hearthbot are
    names of 127.0.0.1 (`ip netns exec` mounts /etc/netns/<name>/hosts as /etc/hosts)."""
    assert os.geteuid() == 0, "network namespaces need root (CI runs as root)"
    name = f"hb-{uuid.uuid4().hex[:8]}"
    hosts = Path("/etc/netns") / name
    ip("netns", "add", name)
    try:
        hosts.mkdir(parents=True)
        (hosts / "hosts").write_text("127.0.0.1 localhost redis ollama hearthbot\n::1 localhost\n")
        ip("netns", "exec", name, IP, "link", "set", "lo", "up")
        yield name
    finally:
        # Whatever the rehearsal left running in the namespace (it failed half-way).
        pids = subprocess.run(  # noqa: S603 - iproute2
            [IP, "netns", "pids", name], capture_output=True, text=True, check=False
        ).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        ip("netns", "del", name, check=False)
        for item in hosts.glob("*"):
            item.unlink()
        if hosts.exists():
            hosts.rmdir()


def test_the_compose_stack_comes_up_from_env_and_answers(namespace: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG"}}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(  # noqa: S603
        [IP, "netns", "exec", namespace, sys.executable,
         str(ROOT / "tests" / "compose_rehearsal.py"), str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=240, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["redis_healthy"] is True
    # compose's environment won over .env's (which says localhost and embedded).
    assert report["app_environment"]["REDIS_URL"] == "redis://redis:6379/0"
    assert report["app_environment"]["LOCAL_MODEL"] == "ollama:llama3.2:3b"
    assert report["app_environment"]["LOCAL_BASE_URL"] == "http://ollama:11434"
    doctor = "\n".join(report["doctor"])
    assert report["doctor_exit"] == 0, doctor
    assert "✓ Redis: Redis" in doctor
    assert "persistence: append-only file; maxmemory-policy noeviction" in doctor
    assert "✓ Local model: ollama at http://ollama:11434 serves llama3.2:3b" in doctor
    assert report["readyz"] == 200
    assert report["ask_status"] == 200
    assert "answer from llama3.2:3b to: what did legal say about the merger" in report["answer"]
    assert report["hearthbot_exit"] == 0
    assert report["hearthbot_log_has_question"] is False
    assert any(name.endswith(".aof") or "appendonly" in name for name in report["aof_files"])
