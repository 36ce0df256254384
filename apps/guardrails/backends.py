"""Pluggable classifiers that run beside the built-in checks (docs/guardrails.md).

``GUARDRAILS_BACKEND`` picks one, without code changes:

- ``builtin`` (default): nothing more than the shipped rules and classifier.
- ``onnx:/path/to/model.onnx``: a sequence classifier exported to ONNX, run on CPU with
  onnxruntime (a dependency, as for the e5 stage; put a tokenizer file beside the model;
  the backend refuses to load otherwise, naming what is missing).
- ``http:https://host/v1/moderations``: an OpenAI-compatible moderation endpoint
  (``GUARDRAILS_BACKEND_API_KEY`` as the bearer token). Its ``flagged`` and
  ``categories`` become a moderation hit; a category named like "prompt_injection" or
  "jailbreak" becomes an injection hit.

Every call has ``GUARDRAILS_BACKEND_TIMEOUT_MS``. A backend that fails or times out
raises ``BackendUnavailable``: the engine then fails open or closed per the tenant's
policy, and logs it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import httpx
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class BackendUnavailable(Exception):
    """The backend did not answer in time or answered with an error."""


@dataclass(frozen=True)
class BackendResult:
    injection: float | None = None  # probability, when the backend judges injections
    flagged_categories: tuple[str, ...] = field(default_factory=tuple)


class Backend(Protocol):
    name: str

    async def classify(self, text: str) -> BackendResult: ...


class BuiltinBackend:
    name = "builtin"

    async def classify(self, text: str) -> BackendResult:
        return BackendResult()


INJECTION_CATEGORIES = frozenset({"prompt_injection", "injection", "jailbreak"})


class HttpBackend:
    """An OpenAI-compatible moderation endpoint: POST {"input": text}."""

    def __init__(self, url: str, api_key: str, timeout_s: float) -> None:
        self.name = f"http:{url}"
        self.url = url
        self.api_key = api_key
        self.timeout_s = timeout_s

    async def classify(self, text: str) -> BackendResult:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                response = await client.post(self.url, json={"input": text}, headers=headers)
            response.raise_for_status()
            body: Any = response.json()
            result = body["results"][0]
        except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise BackendUnavailable(f"{self.name}: {exc!r}"[:300]) from exc
        categories = tuple(
            sorted(name for name, hit in (result.get("categories") or {}).items() if hit)
        )
        scores = result.get("category_scores") or {}
        injection = max(
            (float(v) for k, v in scores.items() if k in INJECTION_CATEGORIES), default=None
        )
        if injection is None and INJECTION_CATEGORIES & set(categories):
            injection = 1.0
        moderation = tuple(c for c in categories if c not in INJECTION_CATEGORIES)
        if result.get("flagged") and not moderation and injection is None:
            moderation = ("flagged",)
        return BackendResult(injection=injection, flagged_categories=moderation)


class OnnxBackend:
    """A binary sequence classifier in ONNX (label 1 = injection), with its tokenizer.json."""

    def __init__(self, path: str) -> None:
        self.name = f"onnx:{path}"
        model = Path(path)
        tokenizer = model.with_name("tokenizer.json")
        try:
            import onnxruntime
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ImproperlyConfigured(
                f"GUARDRAILS_BACKEND={self.name} needs onnxruntime and tokenizers installed "
                "in the environment (the project's provider extra brings them)."
            ) from exc
        if not model.is_file() or not tokenizer.is_file():
            raise ImproperlyConfigured(
                f"GUARDRAILS_BACKEND={self.name}: put the model and its tokenizer.json at "
                f"{model} and {tokenizer}."
            )
        # On the calling thread (asyncio.to_thread's), without spinning worker threads: a
        # web process runs many requests, and spinning threads take the other core.
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = onnxruntime.InferenceSession(
            str(model), options, providers=["CPUExecutionProvider"]
        )
        self._tokenizer = Tokenizer.from_file(str(tokenizer))
        self._tokenizer.no_padding()  # one text per call: a file's padding would be attended

    def _run(self, text: str) -> float:
        import numpy as np

        encoding = self._tokenizer.encode(text[:4000])
        ids = np.array([encoding.ids[:512]], dtype=np.int64)
        mask = np.array([encoding.attention_mask[:512]], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        logits = self._session.run(None, feeds)[0][0]
        exp = np.exp(logits - logits.max())
        return float(exp[-1] / exp.sum())

    async def classify(self, text: str) -> BackendResult:
        return BackendResult(injection=await asyncio.to_thread(self._run, text))


@cache
def configured() -> Backend:
    """The backend ``GUARDRAILS_BACKEND`` names, built once per process."""
    spec: str = settings.GUARDRAILS_BACKEND
    timeout_s = settings.GUARDRAILS_BACKEND_TIMEOUT_MS / 1000
    if spec in ("", "builtin"):
        return BuiltinBackend()
    if spec.startswith("http:") or spec.startswith("https:"):
        url = spec.removeprefix("http:") if spec.startswith("http:http") else spec
        return HttpBackend(url, settings.GUARDRAILS_BACKEND_API_KEY, timeout_s)
    if spec.startswith("onnx:"):
        return OnnxBackend(spec.removeprefix("onnx:"))
    raise ImproperlyConfigured(
        f"GUARDRAILS_BACKEND={spec!r}: use builtin, onnx:/path/model.onnx or "
        "http:https://host/v1/moderations."
    )


async def classify_with_limit(backend: Backend, text: str) -> BackendResult:
    """The backend's verdict within GUARDRAILS_BACKEND_TIMEOUT_MS, else BackendUnavailable."""
    try:
        return await asyncio.wait_for(
            backend.classify(text), timeout=settings.GUARDRAILS_BACKEND_TIMEOUT_MS / 1000
        )
    except TimeoutError as exc:
        raise BackendUnavailable(f"{backend.name}: no answer in time") from exc
