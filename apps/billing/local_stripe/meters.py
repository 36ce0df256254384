"""Billing meters, meter events (v1 and the v2 stream) and meter event summaries.

A meter event must name an active meter's ``event_name``, an existing customer and an
integer value, with a timestamp within the past 35 days and at most 5 minutes ahead of
the server's clock. Real Stripe reports some of these problems later, asynchronously
(meter error reports); this server rejects them at once with a 400 so a mistake shows
where it is made. An ``identifier`` seen in the past 24 hours is refused as Stripe refuses
it: 400 ``An event already exists with identifier …`` with ``Stripe-Should-Retry:
false``. After 24 hours the server forgets it, as Stripe may: only the app's own outbox
makes usage exactly once.

The v2 stream validates only the request's shape synchronously; each event is then
checked as above and, if refused, dropped and listed at ``GET /_local/meter_errors``.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

from apps.billing.local_stripe import objects
from apps.billing.local_stripe.core import Call, Local, fetch, paginate
from apps.billing.local_stripe.errors import StripeError, invalid, missing, no_such
from apps.billing.local_stripe.store import Json

DEDUP_WINDOW_S = 24 * 3600
PAST_LIMIT_S = 35 * 24 * 3600
FUTURE_LIMIT_S = 5 * 60
SESSION_TTL_S = 15 * 60
STREAM_MAX_EVENTS = 100
MAX_METER_ERRORS = 1000
WINDOWS = {"hour": 3600, "day": 86400}


def iso(timestamp: int) -> str:
    """v2 timestamps: ``2026-01-31T12:00:00.000Z``."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- meters --------------------------------------------------------------------------------


def create_meter(call: Call) -> Json:
    params = call.params
    if params["default_aggregation"]["formula"] not in ("sum", "count"):
        raise StripeError(
            400,
            "Only the `sum` and `count` aggregations are implemented by the local Stripe server.",
            param="default_aggregation[formula]",
        )
    if _active_meter(call.local, params["event_name"]) is not None:
        raise invalid(
            f"An active meter with event_name `{params['event_name']}` already exists.",
            "event_name",
        )
    return call.store.add("meters", objects.meter(params, call.store.now()))


def retrieve_meter(call: Call) -> Json:
    return fetch(call, "meters", call.path["id"], "billing meter")


def list_meters(call: Call) -> Json:
    meters = [
        meter
        for meter in call.store.all("meters")
        if call.params.get("status", meter["status"]) == meter["status"]
    ]
    return paginate(call, meters, "/v1/billing/meters")


def _active_meter(local: Local, event_name: str) -> Json | None:
    return next(
        (
            meter
            for meter in local.store.all("meters")
            if meter["event_name"] == event_name and meter["status"] == "active"
        ),
        None,
    )


# -- meter events --------------------------------------------------------------------------


def _accept(local: Local, event_name: str, payload: Json, identifier: str, timestamp: int) -> None:
    """Validate one meter event and record it, or raise what Stripe answers."""
    meter = _active_meter(local, event_name)
    if meter is None:
        raise invalid(f"No active meter was found with event_name `{event_name}`.", "event_name")
    customer_key = meter["customer_mapping"]["event_payload_key"]
    value_key = meter["value_settings"]["event_payload_key"]
    for key in (customer_key, value_key):
        if key not in payload:
            raise missing(f"payload[{key}]")
    customer = payload[customer_key]
    if local.store.get("customers", customer) is None:
        raise no_such("customer", customer, f"payload[{customer_key}]", status=400)
    raw = payload[value_key]
    digits = raw.removeprefix("-")
    if not (digits.isascii() and digits.isdigit()):
        raise invalid(
            f"Invalid value in payload[{value_key}]: `{raw}` is not a whole number.",
            f"payload[{value_key}]",
        )
    now = local.store.now()
    if timestamp < now - PAST_LIMIT_S:
        raise invalid("The timestamp must be within the past 35 calendar days.", "timestamp")
    if timestamp > now + FUTURE_LIMIT_S:
        raise invalid("The timestamp must not be more than 5 minutes in the future.", "timestamp")
    if local.store.identifier_seen(identifier, DEDUP_WINDOW_S):
        raise StripeError(
            400,
            f"An event already exists with identifier {identifier}.",
            param="identifier",
            headers={"Stripe-Should-Retry": "false"},
        )
    local.store.add_meter_event([identifier, event_name, customer, int(raw), timestamp, now])


def create_meter_event(call: Call) -> Json:
    params = call.params
    identifier = params.get("identifier") or str(uuid.uuid4())
    timestamp = params.get("timestamp", call.store.now())
    _accept(call.local, params["event_name"], params["payload"], identifier, timestamp)
    return {
        "object": "billing.meter_event",
        "created": call.store.now(),
        "event_name": params["event_name"],
        "identifier": identifier,
        "livemode": False,
        "payload": params["payload"],
        "timestamp": timestamp,
    }


def event_summaries(call: Call) -> Json:
    meter = fetch(call, "meters", call.path["id"], "billing meter")
    params = call.params
    customer, start, end = params["customer"], params["start_time"], params["end_time"]
    fetch(call, "customers", customer, "customer", "customer")
    window = params.get("value_grouping_window")
    step = WINDOWS[window] if window else 60
    for name, moment in (("start_time", start), ("end_time", end)):
        if moment % step:
            unit = f"{window} boundaries" if window else "minute boundaries"
            raise invalid(f"The {name} must be aligned with {unit} (UTC).", name)
    if end <= start:
        raise invalid("The end_time must be after the start_time.", "end_time")
    values: dict[int, list[int]] = {}
    for _, name, event_customer, value, timestamp, _ in call.store.meter_events:
        if name == meter["event_name"] and event_customer == customer and start <= timestamp < end:
            bucket = start + (timestamp - start) // step * step if window else start
            values.setdefault(bucket, []).append(value)
    if not window:
        values.setdefault(start, [])  # one summary for the range, even when empty
    summaries = [
        _summary(meter, customer, bucket, min(bucket + step, end) if window else end, found)
        for bucket, found in values.items()
    ]
    return paginate(
        call, summaries, f"/v1/billing/meters/{meter['id']}/event_summaries", order="start_time"
    )


def _summary(meter: Json, customer: str, start: int, end: int, values: list[int]) -> Json:
    # Stable ids, so pagination cursors survive new events.
    digest = hashlib.sha256(f"{meter['id']}|{customer}|{start}|{end}".encode()).hexdigest()
    aggregated = len(values) if meter["default_aggregation"]["formula"] == "count" else sum(values)
    return {
        "id": f"mtrusg_test_{digest[:40]}",
        "object": "billing.meter_event_summary",
        "aggregated_value": float(aggregated),
        "end_time": end,
        "livemode": False,
        "meter": meter["id"],
        "start_time": start,
    }


# -- v2: sessions and the stream -----------------------------------------------------------


def create_meter_event_session(call: Call) -> Json:
    now = call.store.now()
    token = "mes_tok_" + secrets.token_urlsafe(32)
    call.store.meter_sessions = {
        key: expires for key, expires in call.store.meter_sessions.items() if expires > now
    }
    call.store.meter_sessions[token] = now + SESSION_TTL_S
    call.store.changed()
    return {
        "id": "mes_" + secrets.token_hex(12),
        "object": "v2.billing.meter_event_session",
        "authentication_token": token,
        "created": iso(now),
        "expires_at": iso(now + SESSION_TTL_S),
        "livemode": False,
    }


def check_session_token(local: Local, token: str) -> None:
    expires = local.store.meter_sessions.get(token)
    if expires is None:
        raise StripeError(401, "Invalid meter event session token.", type="invalid_request_error")
    if expires <= local.store.now():
        raise StripeError(
            401,
            "The meter event session has expired; create a new one.",
            type="temporary_session_expired",
            code="billing_meter_event_session_expired",
        )


def stream_events(local: Local, body: Any) -> None:
    """``POST /v2/billing/meter_event_stream``: shape checked now, events one by one."""
    events = _stream_shape(body)
    now = local.store.now()
    for index, event in enumerate(events):
        identifier = event.get("identifier") or str(uuid.uuid4())
        try:
            timestamp = _parse_iso(event["timestamp"]) if "timestamp" in event else now
            _accept(local, event["event_name"], event["payload"], identifier, timestamp)
        except StripeError as exc:
            local.store.meter_errors.append(
                {"index": index, "identifier": identifier, "message": exc.message, "at": now}
            )
            del local.store.meter_errors[:-MAX_METER_ERRORS]
            local.store.changed()


def _stream_shape(body: Any) -> list[Json]:
    if not isinstance(body, dict) or set(body) != {"events"}:
        raise invalid("The body must be a JSON object with one field, `events`, a list.", "events")
    if not isinstance(body["events"], list):
        raise invalid("The body must be a JSON object with one field, `events`, a list.", "events")
    events = body["events"]
    if not 1 <= len(events) <= STREAM_MAX_EVENTS:
        raise invalid(f"Send from 1 to {STREAM_MAX_EVENTS} events per request.", "events")
    for index, event in enumerate(events):
        where = f"events[{index}]"
        if not isinstance(event, dict):
            raise invalid(f"{where} must be an object.", where)
        unknown = sorted(set(event) - {"event_name", "identifier", "payload", "timestamp"})
        if unknown:
            raise invalid(
                f"Received unknown parameter: {where}.{unknown[0]}",
                f"{where}.{unknown[0]}",
                code="parameter_unknown",
            )
        for name in ("event_name", "payload"):
            if name not in event:
                raise missing(f"{where}.{name}")
        payload = event["payload"]
        if not isinstance(payload, dict) or not all(isinstance(v, str) for v in payload.values()):
            raise invalid(f"{where}.payload must map names to strings.", f"{where}.payload")
        for name in ("event_name", "identifier", "timestamp"):
            if name in event and not isinstance(event[name], str):
                raise invalid(f"{where}.{name} must be a string.", f"{where}.{name}")
    return events


def _parse_iso(raw: str) -> int:
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise invalid(f"Invalid timestamp: {raw} (expected ISO 8601).", "timestamp") from None
    if moment.tzinfo is None:
        raise invalid(f"Invalid timestamp: {raw} (a time zone is required).", "timestamp")
    return int(moment.timestamp())
