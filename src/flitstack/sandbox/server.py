"""A Pipedrive sandbox: a real HTTP server with Pipedrive's paths, envelopes, limits and faults.

What it copies from Pipedrive because a migration depends on it: custom fields keyed by random
40-character hashes (different per account), values checked against field types, cursor
pagination, search by custom field, auth by ``api_token`` or ``x-api-token``, token costs drawn
from a daily budget, a per-token burst limit in 2-second windows (search lower) with the
rate-limit headers and 429 + Retry-After, and injectable latency, 5xx, resets and lost responses.

The pieces live beside this module; it keeps every name callers import from it:

- ``config``: SandboxConfig and the plan figures it reads
- ``store``: records as JSON in SQLite; ``schema``: activity types, field types, field kinds
- ``account``: the account (Sandbox): store, token, seeding, counters, fault dice
- ``validation``: request parameters and bodies; ``bodies``: the v2 bodies' declared types;
  ``records``: each kind's rules
- ``limits``: the daily budget and burst windows; ``search``: search scoring
- ``envelope``: Pipedrive's success and error envelopes (ApiError)
- ``endpoints``, ``entities``, ``fields``, ``pipelines``, ``v1``: route handlers; ``routes``:
  the table
- ``middleware``: auth, latency, limits and faults around every request
- ``runner``: create_app, running_sandbox, SandboxHandle
"""

from __future__ import annotations

from flitstack.pipedrive.costs import token_cost
from flitstack.sandbox.account import Sandbox
from flitstack.sandbox.config import PLAN_BURST, PLAN_MULTIPLIER, WINDOW_SECONDS, SandboxConfig
from flitstack.sandbox.endpoints import Handler
from flitstack.sandbox.envelope import ApiError
from flitstack.sandbox.runner import SandboxHandle, create_app, running_sandbox
from flitstack.sandbox.schema import ACTIVITY_TYPES, CUSTOM_TYPES, FIELD_KIND, STANDARD_FIELDS
from flitstack.sandbox.store import Store, now_iso

__all__ = [
    "ACTIVITY_TYPES",
    "CUSTOM_TYPES",
    "FIELD_KIND",
    "PLAN_BURST",
    "PLAN_MULTIPLIER",
    "STANDARD_FIELDS",
    "WINDOW_SECONDS",
    "ApiError",
    "Handler",
    "Sandbox",
    "SandboxConfig",
    "SandboxHandle",
    "Store",
    "create_app",
    "now_iso",
    "running_sandbox",
    "token_cost",
]
