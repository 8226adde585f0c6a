"""The sandbox account: its store, token, seed data, counters, limits and fault dice."""

from __future__ import annotations

import hashlib
import random
import secrets
from collections import Counter
from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

from flitstack.sandbox import records
from flitstack.sandbox import search as searching
from flitstack.sandbox.config import SandboxConfig
from flitstack.sandbox.limits import RateLimiter
from flitstack.sandbox.schema import ACTIVITY_TYPES, custom_fields
from flitstack.sandbox.store import Store, now_iso


def user_record(user: dict[str, Any], owner: bool) -> dict[str, Any]:
    """A seeded user as GET /v1/users/{id} returns it (the spec's BaseUser); the account's
    owner (the first user, the API token's) is its admin."""
    created = now_iso().replace("T", " ").rstrip("Z")
    active = bool(user.get("active", True))
    return {
        "name": user["name"],
        "email": user["email"],
        "default_currency": "USD",
        "locale": "en_US",
        "lang": 1,
        "phone": None,
        "activated": active,
        "last_login": created,
        "created": created,
        "modified": None,
        "has_created_company": owner,
        "access": [{"app": "sales", "admin": owner, "permission_set_id": "sales-regular"}],
        "active_flag": active,
        "timezone_name": "UTC",
        "timezone_offset": "+00:00",
        "role_id": 1,
        "icon_url": None,
        "is_you": owner,
        "is_deleted": False,
    }


class Sandbox:
    """The account: state, limits, faults; the HTTP handlers read and change it."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.store = Store(config.db_path)
        self.token = config.api_token or self.store.meta("api_token") or secrets.token_hex(20)
        self.store.set_meta("api_token", self.token)
        self.rng = random.Random(config.seed)
        self._salt = self.store.meta("salt") or secrets.token_hex(8)
        self.store.set_meta("salt", self._salt)
        self.counters: Counter[str] = Counter()
        self.limits = RateLimiter(config, self.counters)
        if self.store.meta("seeded") is None:
            self._seed()
            self.store.set_meta("seeded", "1")
        else:  # a kept account (db_path): users named since it was made are added to it
            known = {str(u["email"]).casefold() for u in self.store.all("users")}
            for user in config.seed_users:
                if user["email"].casefold() not in known:
                    self.store.insert("users", user_record(user, owner=False))

    # --- seeding ---------------------------------------------------------------------------------
    def _seed(self) -> None:
        for i, user in enumerate(self.config.seed_users):
            self.store.insert("users", user_record(user, owner=i == 0))
        for i, (label, key) in enumerate(ACTIVITY_TYPES, 1):
            self.store.insert(
                "activityTypes",
                {"name": label, "key_string": key, "order_nr": i, "active_flag": True},
            )
        for org in self.config.seed_organizations:
            self.create("organizations", dict(org))
        for person in self.config.seed_persons:
            self.create("persons", dict(person))

    # --- limits and faults -----------------------------------------------------------------------
    @property
    def tokens_used(self) -> int:
        return self.limits.tokens_used

    @property
    def day_started(self) -> float:
        return self.limits.day_started

    def budget_left(self) -> int:
        return self.limits.budget_left()

    def reset_budget(self) -> None:
        self.limits.reset_budget()

    def admit(self, method: str, path: str, token: str) -> tuple[dict[str, str], Response | None]:
        """Charge the request or refuse it with 429; return the rate-limit headers."""
        return self.limits.admit(method, path, token)

    def set_faults(self, **rates: float) -> None:
        for name, value in rates.items():
            if not hasattr(self.config, name):
                raise AttributeError(f"no sandbox setting {name}")
            setattr(self.config, name, value)

    def roll(self, rate: float) -> bool:
        return rate > 0 and self.rng.random() < rate

    # --- records ---------------------------------------------------------------------------
    def field_code(self, kind: str, name: str) -> str:
        digest = hashlib.sha1(f"{self._salt}:{kind}:{name}:{secrets.token_hex(4)}".encode())
        return digest.hexdigest()

    def custom_fields(self, kind: str) -> dict[str, dict[str, Any]]:
        return custom_fields(self.store, kind)

    def check_custom(self, kind: str, values: Any) -> dict[str, Any]:
        return records.check_custom(self.store, kind, values)

    def require(self, kind: str, record_id: Any, name: str) -> dict[str, Any]:
        return records.require(self.store, kind, record_id, name)

    def build(self, kind: str, body: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
        """Validate a create (old is None) or patch body and return the new record."""
        return records.build(self.store, kind, body, old)

    def create(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.store.transaction():
            record = self.build(kind, body, None)
            return self.store.insert(kind, {"id": self.store.next_id(kind), **record})

    def search(
        self,
        kind: str,
        term: str,
        fields: set[str],
        exact: bool,
        params: Mapping[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """Search results, narrowed by the operation's filters in ``params`` (query string)."""
        keep = searching.search_filter(self.store, kind, params or {})
        return searching.search(self.store, kind, term, fields, exact, keep)
