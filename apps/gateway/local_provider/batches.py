"""The local provider's Files and Batches API, in OpenAI's shapes (in memory).

Routes: ``POST /v1/files`` (multipart, ``purpose=batch``), ``GET /v1/files/{id}``,
``GET /v1/files/{id}/content`` (streamed), ``POST /v1/batches``, ``GET /v1/batches``
(newest first, ``after`` and ``limit`` as OpenAI's), ``GET /v1/batches/{id}``,
``POST /v1/batches/{id}/cancel`` and the control route ``POST /dev/batches/fault``.

A batch is ``validating`` -> ``in_progress`` until its delay has passed (the environment's
``LOCAL_PROVIDER_BATCH_DELAY_S`` or the batch's ``metadata.dev_delay_s``), then it ends
on the next retrieve. Its answers come from ``devmodel`` exactly as a chat call's would.
Faults (``metadata.dev_fault``, else the control route's, else the environment's
``LOCAL_PROVIDER_BATCH_FAULT``):

- ``fail_line:K`` - line K (1-based) ends in the error file (status 500), the rest succeed;
- ``expire:N`` - the batch expires with only its first N lines answered, the rest in the
  error file with code ``batch_expired``;
- ``fail`` - the batch fails validation (``status: failed``, nothing answered);
- ``hold:S`` - the batch is created at once but the answer to its ``POST /v1/batches``
  comes S seconds later (a caller killed while waiting leaves an accepted batch behind
  that it never heard of: what ``GET /v1/batches`` and an idempotency key are for).

A line asking for a fault model (``local-fault-500`` ...) also ends in the error file.
"""

from __future__ import annotations

import asyncio
import email.policy
import json
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from email.parser import BytesParser
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from apps.gateway.local_provider import devmodel
from apps.gateway.local_provider.devmodel import RequestError

DEFAULT_DELAY_S = 1.0
MAX_FILE_BYTES = 200 * 1024 * 1024
CONTENT_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class BatchFault:
    kind: str  # "fail_line" | "expire" | "fail" | "hold"
    n: int = 0


def parse_batch_fault(raw: str) -> BatchFault | None:
    raw = raw.strip()
    if not raw:
        return None
    if raw == "fail":
        return BatchFault("fail")
    kind, _, n = raw.partition(":")
    if kind in ("fail_line", "expire", "hold") and n.isascii() and n.isdigit():
        return BatchFault(kind, int(n))
    raise RequestError(
        400, f"Unknown batch fault {raw!r}: use fail_line:K, expire:N, fail or hold:S."
    )


@dataclass(slots=True)
class StoredFile:
    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: int

    def body(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.content),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": None,
        }


@dataclass(slots=True)
class Batch:
    id: str
    input_file_id: str
    endpoint: str
    completion_window: str
    metadata: dict[str, Any]
    created_at: int
    due_at: float
    lines: list[dict[str, Any]]
    fault: BatchFault | None
    status: str = "in_progress"
    output_file_id: str | None = None
    error_file_id: str | None = None
    completed: int = 0
    failed: int = 0
    ended_at: int | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        ended = self.ended_at
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "errors": {"object": "list", "data": self.errors} if self.errors else None,
            "input_file_id": self.input_file_id,
            "completion_window": self.completion_window,
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": self.created_at,
            "in_progress_at": self.created_at,
            "expires_at": self.created_at + 24 * 3600,
            "finalizing_at": ended,
            "completed_at": ended if self.status == "completed" else None,
            "failed_at": ended if self.status == "failed" else None,
            "expired_at": ended if self.status == "expired" else None,
            "cancelling_at": ended if self.status == "cancelled" else None,
            "cancelled_at": ended if self.status == "cancelled" else None,
            "request_counts": {
                "total": len(self.lines),
                "completed": self.completed,
                "failed": self.failed,
            },
            "metadata": self.metadata,
        }


class BatchStore:
    """Files and batches of one server process."""

    def __init__(self, env: Mapping[str, str]) -> None:
        raw_delay = env.get("LOCAL_PROVIDER_BATCH_DELAY_S", "").strip()
        self.delay_s = float(raw_delay) if raw_delay else DEFAULT_DELAY_S
        if not self.delay_s >= 0:
            raise ValueError("LOCAL_PROVIDER_BATCH_DELAY_S must be a non-negative number.")
        self.default_fault = parse_batch_fault(env.get("LOCAL_PROVIDER_BATCH_FAULT", ""))
        self.files: dict[str, StoredFile] = {}
        self.batches: dict[str, Batch] = {}

    def add_file(self, filename: str, purpose: str, content: bytes) -> StoredFile:
        stored = StoredFile(
            f"file-dev-{uuid.uuid4().hex[:24]}", filename, purpose, content, int(time.time())
        )
        self.files[stored.id] = stored
        return stored

    def finish(self, batch: Batch) -> None:
        """Answer every line (or the fault's share) and write the output / error files."""
        fault = batch.fault
        answer_upto = len(batch.lines)
        if fault is not None and fault.kind == "expire":
            answer_upto = min(fault.n, len(batch.lines))
        out: list[str] = []
        err: list[str] = []
        for i, line in enumerate(batch.lines):
            custom_id = line["custom_id"]
            req_id = f"batch_req_{uuid.uuid4().hex[:24]}"
            if i >= answer_upto:
                err.append(_error_line(req_id, custom_id, "batch_expired", "Batch expired."))
                continue
            if fault is not None and fault.kind == "fail_line" and i + 1 == fault.n:
                err.append(_failed_line(req_id, custom_id, "The dev model failed (injected)."))
                continue
            try:
                chat = devmodel.parse_chat_request(line["body"])
            except RequestError as exc:
                err.append(_failed_line(req_id, custom_id, exc.message, status=exc.status))
                continue
            if chat.model_fault is not None:
                err.append(_failed_line(req_id, custom_id, "The dev model failed (injected)."))
                continue
            completion = devmodel.complete(chat, None, None)
            body = {
                "id": f"chatcmpl-dev-{uuid.uuid4().hex[:24]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": chat.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": completion.content},
                        "logprobs": None,
                        "finish_reason": completion.finish_reason,
                    }
                ],
                "usage": completion.usage(),
            }
            out.append(
                json.dumps(
                    {
                        "id": req_id,
                        "custom_id": custom_id,
                        "response": {"status_code": 200, "request_id": req_id, "body": body},
                        "error": None,
                    }
                )
            )
        batch.completed, batch.failed = len(out), len(err)
        if out:
            batch.output_file_id = self.add_file(
                "batch_output.jsonl", "batch_output", ("\n".join(out) + "\n").encode()
            ).id
        if err:
            batch.error_file_id = self.add_file(
                "batch_errors.jsonl", "batch_output", ("\n".join(err) + "\n").encode()
            ).id
        batch.status = "expired" if answer_upto < len(batch.lines) else "completed"
        batch.ended_at = int(time.time())

    def advance(self, batch: Batch) -> None:
        if batch.status == "in_progress" and time.monotonic() >= batch.due_at:
            self.finish(batch)


def _error_line(req_id: str, custom_id: str, code: str, message: str) -> str:
    return json.dumps(
        {
            "id": req_id,
            "custom_id": custom_id,
            "response": None,
            "error": {"code": code, "message": message},
        }
    )


def _failed_line(req_id: str, custom_id: str, message: str, *, status: int = 500) -> str:
    return json.dumps(
        {
            "id": req_id,
            "custom_id": custom_id,
            "response": {
                "status_code": status,
                "request_id": req_id,
                "body": {"error": {"message": message, "type": "server_error"}},
            },
            "error": None,
        }
    )


def _store(request: Request) -> BatchStore:
    store: BatchStore = request.app.state.batches
    return store


def _err(exc: RequestError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status)


def _not_found(kind: str, ident: str) -> JSONResponse:
    return _err(RequestError(404, f"No such {kind}: {ident!r}."))


async def create_file(request: Request) -> Response:
    body = await request.body()
    if len(body) > MAX_FILE_BYTES:
        return _err(RequestError(413, f"Files may be at most {MAX_FILE_BYTES} bytes."))
    fields = _multipart(request.headers.get("content-type", ""), body)
    purpose = fields.get("purpose")
    upload = fields.get("file")
    if purpose is None or purpose[1].decode(errors="replace") != "batch":
        return _err(RequestError(400, "'purpose' must be 'batch'.", param="purpose"))
    if upload is None or upload[0] is None:
        return _err(RequestError(400, "'file' must be an uploaded file.", param="file"))
    stored = _store(request).add_file(upload[0], "batch", upload[1])
    return JSONResponse(stored.body())


def _multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """name -> (filename, bytes) of a multipart/form-data body (stdlib parser: the dev
    server has no multipart dependency)."""
    if not content_type.startswith("multipart/form-data"):
        return {}
    message = BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str):
            payload = part.get_payload(decode=True)
            fields[name] = (part.get_filename(), payload if isinstance(payload, bytes) else b"")
    return fields


async def retrieve_file(request: Request) -> Response:
    stored = _store(request).files.get(request.path_params["file_id"])
    if stored is None:
        return _not_found("file", request.path_params["file_id"])
    return JSONResponse(stored.body())


async def file_content(request: Request) -> Response:
    stored = _store(request).files.get(request.path_params["file_id"])
    if stored is None:
        return _not_found("file", request.path_params["file_id"])
    content = stored.content

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(content), CONTENT_CHUNK):
            yield content[start : start + CONTENT_CHUNK]

    return StreamingResponse(chunks(), media_type="application/octet-stream")


def _parse_lines(content: bytes, endpoint: str) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number, raw in enumerate(content.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except ValueError:
            raise RequestError(400, f"Line {number} of the input file is not JSON.") from None
        if not isinstance(line, dict):
            raise RequestError(400, f"Line {number} of the input file is not a JSON object.")
        custom_id = line.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            raise RequestError(400, f"Line {number} has no custom_id.")
        if custom_id in seen:
            raise RequestError(400, f"Line {number} repeats custom_id {custom_id!r}.")
        seen.add(custom_id)
        if line.get("method") != "POST" or line.get("url") != endpoint:
            raise RequestError(400, f"Line {number} must be a POST to {endpoint}.")
        if not isinstance(line.get("body"), dict):
            raise RequestError(400, f"Line {number} has no body object.")
        lines.append(line)
    if not lines:
        raise RequestError(400, "The input file has no requests.")
    return lines


async def create_batch(request: Request) -> Response:
    store = _store(request)
    try:
        body = json.loads(await request.body())
    except ValueError:
        return _err(RequestError(400, "The request body is not valid JSON."))
    if not isinstance(body, dict):
        return _err(RequestError(400, "The request body must be a JSON object."))
    endpoint = body.get("endpoint")
    if endpoint != "/v1/chat/completions":
        return _err(RequestError(400, "Only /v1/chat/completions batches.", param="endpoint"))
    if body.get("completion_window") != "24h":
        return _err(RequestError(400, "completion_window must be '24h'."))
    stored = store.files.get(str(body.get("input_file_id")))
    if stored is None:
        return _not_found("file", str(body.get("input_file_id")))
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict):
        return _err(RequestError(400, "metadata must be an object.", param="metadata"))
    try:
        fault = (
            parse_batch_fault(str(metadata["dev_fault"]))
            if "dev_fault" in metadata
            else store.default_fault
        )
        delay = float(metadata.get("dev_delay_s", store.delay_s))
        lines = _parse_lines(stored.content, endpoint)
    except RequestError as exc:
        return _err(exc)
    except ValueError:
        return _err(RequestError(400, "metadata.dev_delay_s must be a number."))
    now = int(time.time())
    batch = Batch(
        id=f"batch_dev_{uuid.uuid4().hex[:24]}",
        input_file_id=stored.id,
        endpoint=endpoint,
        completion_window="24h",
        metadata=metadata,
        created_at=now,
        due_at=time.monotonic() + delay,
        lines=lines,
        fault=fault,
    )
    if fault is not None and fault.kind == "fail":
        batch.status = "failed"
        batch.ended_at = now
        batch.errors = [
            {"code": "invalid_request", "message": "The batch failed (injected).", "line": None}
        ]
    store.batches[batch.id] = batch
    if fault is not None and fault.kind == "hold":
        await asyncio.sleep(fault.n)
    return JSONResponse(batch.body())


LIST_LIMIT = 100


async def list_batches(request: Request) -> Response:
    """Newest first; ``after`` is the last id of the previous page (OpenAI's cursor)."""
    store = _store(request)
    try:
        limit = int(request.query_params.get("limit", "20"))
    except ValueError:
        return _err(RequestError(400, "limit must be a whole number.", param="limit"))
    if not 1 <= limit <= LIST_LIMIT:
        return _err(RequestError(400, f"limit must be 1 to {LIST_LIMIT}.", param="limit"))
    newest = list(reversed(store.batches.values()))  # dicts keep insertion order
    after = request.query_params.get("after")
    if after:
        ids = [b.id for b in newest]
        if after not in ids:
            return _not_found("batch", after)
        newest = newest[ids.index(after) + 1 :]
    page = newest[:limit]
    for batch in page:
        store.advance(batch)
    return JSONResponse(
        {
            "object": "list",
            "data": [b.body() for b in page],
            "first_id": page[0].id if page else None,
            "last_id": page[-1].id if page else None,
            "has_more": len(newest) > limit,
        }
    )


async def _batch_route(request: Request, *, cancel: bool) -> Response:
    store = _store(request)
    batch = store.batches.get(request.path_params["batch_id"])
    if batch is None:
        return _not_found("batch", request.path_params["batch_id"])
    store.advance(batch)
    if cancel and batch.status == "in_progress":
        batch.status = "cancelled"
        batch.ended_at = int(time.time())
    return JSONResponse(batch.body())


async def retrieve_batch(request: Request) -> Response:
    return await _batch_route(request, cancel=False)


async def cancel_batch(request: Request) -> Response:
    """An unfinished batch ends ``cancelled`` at once, with nothing answered."""
    return await _batch_route(request, cancel=True)


async def set_fault(request: Request) -> Response:
    """``POST /dev/batches/fault {"fault": "expire:3" | "" , "delay_s": 0.5}``."""
    store = _store(request)
    try:
        body = json.loads(await request.body() or b"{}")
        if "fault" in body:
            store.default_fault = parse_batch_fault(str(body["fault"] or ""))
        if "delay_s" in body:
            store.delay_s = max(0.0, float(body["delay_s"]))
    except RequestError as exc:
        return _err(exc)
    except (ValueError, TypeError, AttributeError):
        return _err(RequestError(400, 'Send {"fault": "...", "delay_s": N}.'))
    fault = store.default_fault
    return JSONResponse(
        {
            "fault": "" if fault is None else f"{fault.kind}:{fault.n}",
            "delay_s": store.delay_s,
        }
    )


ROUTES = [
    Route("/v1/files", create_file, methods=["POST"]),
    Route("/v1/files/{file_id}", retrieve_file, methods=["GET"]),
    Route("/v1/files/{file_id}/content", file_content, methods=["GET"]),
    Route("/v1/batches", create_batch, methods=["POST"]),
    Route("/v1/batches", list_batches, methods=["GET"]),
    Route("/v1/batches/{batch_id}", retrieve_batch, methods=["GET"]),
    Route("/v1/batches/{batch_id}/cancel", cancel_batch, methods=["POST"]),
    Route("/dev/batches/fault", set_fault, methods=["POST"]),
]
