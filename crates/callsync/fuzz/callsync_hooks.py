"""Schemathesis hooks for fuzzing callsync's API (issue 7, "Fuzzed input").

Loaded by `tests/fuzz.rs` through SCHEMATHESIS_HOOKS. They do two things:

- Sign ingest requests like a phone system: an HMAC-SHA256 signature over
  "<timestamp>.<body>" for POST /v1/events. The body is serialised here,
  signed, and sent as those exact bytes, so the fuzzer reaches event
  validation instead of stopping at the signature check. (The API key is a
  header given on the command line, so schemathesis's own checks of missing
  and wrong keys stay its own.) A share of ingest requests (chosen from the body, so
  a run is repeatable) is deliberately sent with a broken, a stale or a
  replayed signature; each must be refused with 401.
- Add one check: every refused request (4xx) gets a JSON error whose
  message says what was wrong, and a 422 names the fields at fault.

The signing secret comes from CALLSYNC_FUZZ_SIGNING_SECRET, set by the test
for a throw-away organisation.
"""

import atexit
import hashlib
import hmac
import json
import os
import time

import schemathesis
from schemathesis.core import NotSet

SECRET = os.environ["CALLSYNC_FUZZ_SIGNING_SECRET"].encode()

# Ingest requests whose signature the hook spoiled on purpose, by body bytes.
SPOILED = {}
# The last correctly signed (timestamp, signature), for replaying on another body.
LAST_SIGNED = {}
COUNTS = {"signed": 0, "spoiled": 0, "refused": 0}


@atexit.register
def _report():
    # tests/fuzz.rs reads this line to know the signature cases ran.
    print(
        f"callsync hooks: {COUNTS['signed']} ingest requests signed, "
        f"{COUNTS['spoiled']} spoiled on purpose, {COUNTS['refused']} of them refused with 401"
    )


def _sign(timestamp, body):
    message = str(timestamp).encode() + b"." + body
    return "v1=" + hmac.new(SECRET, message, hashlib.sha256).hexdigest()


@schemathesis.hook
def before_call(context, case, kwargs):
    headers = dict(case.headers or {})
    if case.path == "/v1/events" and case.method.upper() == "POST":
        body = case.body
        if isinstance(body, NotSet):
            raw = b""
        elif isinstance(body, bytes):
            raw = body
        else:
            raw = json.dumps(body).encode()
        timestamp = int(time.time())
        signature = _sign(timestamp, raw)
        spoil = hashlib.sha256(raw).digest()[0] % 10
        if spoil == 0:
            signature = "v1=" + "0" * 64
            SPOILED[raw] = "a wrong signature"
        elif spoil == 1:
            timestamp -= 3600
            signature = _sign(timestamp, raw)
            SPOILED[raw] = "a signature an hour old"
        elif spoil == 2 and LAST_SIGNED:
            timestamp, signature = LAST_SIGNED["value"]
            SPOILED[raw] = "a signature replayed from another body"
        else:
            LAST_SIGNED["value"] = (timestamp, signature)
        COUNTS["signed"] += 1
        COUNTS["spoiled"] += raw in SPOILED
        headers["X-Callsync-Timestamp"] = str(timestamp)
        headers["X-Callsync-Signature"] = signature
        headers.setdefault("Content-Type", "application/json")
        kwargs["data"] = raw
    case.headers = headers


@schemathesis.check
def refusals_say_what_was_wrong(ctx, response, case):
    request_body = response.request.body
    if isinstance(request_body, str):
        request_body = request_body.encode()
    spoiled = SPOILED.pop(request_body, None) if request_body is not None else None
    if spoiled is not None:
        if response.status_code != 401:
            raise AssertionError(
                f"an ingest request with {spoiled} was answered {response.status_code}, not 401"
            )
        COUNTS["refused"] += 1
    if not 400 <= response.status_code < 500:
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(f"a {response.status_code} answer is not JSON: {response.content[:200]!r}")
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not str(error.get("message", "")).strip():
        raise AssertionError(f"a {response.status_code} answer has no error message: {body}")
    if response.status_code == 422:
        problems = error.get("details") or []
        if not problems or not all(str(p.get("field", "")) for p in problems):
            raise AssertionError(f"a 422 answer does not name the fields at fault: {body}")
    return None
