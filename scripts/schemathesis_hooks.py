"""Schemathesis hooks for leafdesk: sign requests the way src/signed.rs checks them, and aim
valid (positive) requests at what exists, which no schema can know: the location a sync names,
the customer an update or an event is for, ids and phones not used before.

Loaded by scripts/schemathesis through SCHEMATHESIS_HOOKS. Environment:
  LEAFDESK_SCHEMATHESIS_SECRET    the integration secret (`ldk_…`) requests are signed with
  LEAFDESK_SCHEMATHESIS_LOCATION  the id of an existing location (`leafdesk location list`)

Signing. The OpenAPI document declares X-Leafdesk-Timestamp and X-Leafdesk-Signature as two
apiKey schemes. The auth provider below marks them with a placeholder on every case it
authenticates; a `requests` auth object, run on the prepared request, replaces the placeholders
with the current time and `v2=<hex HMAC-SHA256 of "{timestamp}.{METHOD} {path}.{raw body}">`
over the exact bytes that go on the wire. Only placeholders are signed: a case whose headers
Schemathesis removed or replaced (its negative and `ignored_auth` probes) goes out as it is, so
the server's 401s are tested too.
"""

import hashlib
import hmac
import os
import random
import time
import uuid
from urllib.parse import urlsplit

import requests
import schemathesis

TIMESTAMP = "X-Leafdesk-Timestamp"
SIGNATURE = "X-Leafdesk-Signature"
# Not a number and not `v2=<hex>`: sent unreplaced, the server refuses it, never accepts it.
PLACEHOLDER = "sign-on-send"
# The demo's customers (src/demo.rs): the ids a sync without customer_type can update.
DEMO_CUSTOMERS = ["cus_alex", "cus_marisol", "cus_riley", "cus_sam", "cus_jordan", "cus_casey"]
CUSTOMERS_PATH = "/api/v1/customers/{id}"
EVENTS_PATH = "/api/v1/events"
TRANSCRIPTS_PATH = "/api/v1/transcripts"
# Hypothesis reseeds the global `random` for every case, which would repeat the "fresh" digits.
_RNG = random.SystemRandom()


def _secret() -> str:
    secret = os.environ.get("LEAFDESK_SCHEMATHESIS_SECRET", "")
    if not secret:
        raise RuntimeError("LEAFDESK_SCHEMATHESIS_SECRET is not set (the integration secret, ldk_…)")
    return secret


def sign(secret: str, timestamp: str, method: str, path: str, body: bytes) -> str:
    """The X-Leafdesk-Signature value, as `leafdesk::signed::sign_request` builds it."""
    message = b"".join([timestamp.encode(), b".", method.encode(), b" ", path.encode(), b".", body])
    return "v2=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class _SignOnSend(requests.auth.AuthBase):
    """Runs on the prepared request, after the body is serialized: signs the bytes sent."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if request.headers.get(TIMESTAMP) == PLACEHOLDER:
            request.headers[TIMESTAMP] = str(int(time.time()))
        if request.headers.get(SIGNATURE) == PLACEHOLDER:
            body = request.body or b""
            if isinstance(body, str):
                body = body.encode("utf-8")
            path = urlsplit(request.url).path
            request.headers[SIGNATURE] = sign(_secret(), request.headers.get(TIMESTAMP, ""), request.method, path, body)
        return request


@schemathesis.auth(refresh_interval=None).apply_to(method=["POST", "PUT"])
class LeafdeskSignature:
    """Marks both security headers for signing when the request is sent."""

    def get(self, case, context):
        return _secret()

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers[TIMESTAMP] = PLACEHOLDER
        case.headers[SIGNATURE] = PLACEHOLDER


def _is_positive(case) -> bool:
    meta = case.meta
    return meta is None or meta.generation.mode.is_positive


def _phase(case) -> str:
    meta = case.meta
    return "" if meta is None else str(meta.phase.name.value)


def _spread(seed: str, choices: list[str]) -> str:
    """One of `choices`, always the same one for the same seed value."""
    return choices[sum(map(ord, seed)) % len(choices)]


def _fresh_digits(phone: str) -> str:
    """The number's shape (separators) with new digits, at least 11 of them, the first not 0.

    Generated phones are often short (`+10`) and repeated, so most syncs would be a (rightly
    refused) 409 for another customer's number; eleven random digits almost never collide.
    """
    count = sum(c.isdigit() for c in phone)
    out, seen = [], 0
    for c in phone:
        if not c.isdigit():
            out.append(c)
            continue
        out.append(str(_RNG.randint(1, 9) if seen == 0 else _RNG.randint(0, 9)))
        seen += 1
        if seen == count:
            out.extend(str(_RNG.randint(0, 9)) for _ in range(max(0, 11 - count)))
    return "".join(out)


@schemathesis.hook
def before_call(context, case, kwargs):
    kwargs["auth"] = _SignOnSend()
    if not _is_positive(case) or not isinstance(case.body, dict):
        return
    if case.operation.path == EVENTS_PATH:
        _aim_event(case)
    elif case.operation.path == CUSTOMERS_PATH:
        _aim_sync(case)
    elif case.operation.path == TRANSCRIPTS_PATH:
        _aim_transcript(case)


def _aim_event(case):
    """Valid events reach a customer and are new, so the turn behind the 202 runs.

    Generated cases repeat ids (a repeat is rightly a 200 duplicate that does nothing) and name
    customers that do not exist (rightly a 404); three in four go to a demo customer instead,
    each with an id made unique by a suffix. The examples phase is left as written.
    """
    if _phase(case) == "examples":
        return
    event_id, customer = str(case.body.get("id", "")), str(case.body.get("customer_id", ""))
    if sum(map(ord, customer)) % 4:
        case.body["customer_id"] = _spread(customer, DEMO_CUSTOMERS)
    case.body["id"] = f"{event_id[:95]}-{uuid.uuid4().hex}"


def _aim_sync(case):
    """Valid syncs name a location that exists and, without customer_type, a customer that exists.

    A location id is leafdesk's own (a UUID made when the location was added): no schema can
    list the ones that exist, and one that names no location is rightly a 422. customer_type is
    required only for a new customer, which the schema cannot tell: a valid sync without it is an
    update. Phones get fresh digits (see `_fresh_digits`).
    """
    location = os.environ.get("LEAFDESK_SCHEMATHESIS_LOCATION")
    if location:
        case.body["location_id"] = location
    if case.body.get("customer_type") is None:
        case.path_parameters["id"] = _spread(str(case.path_parameters.get("id", "")), DEMO_CUSTOMERS)
    if _phase(case) != "examples" and isinstance(case.body.get("phone"), str):
        case.body["phone"] = _fresh_digits(case.body["phone"])


def _aim_transcript(case):
    """Valid transcripts reach a location, and their segments end after they start.

    `to` must be one of our numbers (the demo store's; a number we do not serve is rightly a
    422) and a segment's `end` must not come before its `start`, which no schema can say.
    """
    case.body["to"] = os.environ.get("LEAFDESK_SCHEMATHESIS_NUMBER", "+15005550006")
    case.body.pop("location_id", None)
    for segment in case.body.get("segments") or []:
        if isinstance(segment, dict):
            start, end = segment.get("start"), segment.get("end")
            if isinstance(start, (int, float)) and isinstance(end, (int, float)) and end < start:
                segment["start"], segment["end"] = end, start
