"""Usable API keys remembered briefly per process, so a request skips the key's database
round trips (lookup, tenant, last use) when the same key called a moment ago.

Revocation takes effect at once in the process that revokes (``forget``) and within
``TTL_S`` seconds everywhere else: an entry is never used after its deadline, and every
use re-checks the key's expiry. The bound is documented (docs/api.md, "API keys") and
tested (tests/api/test_key_cache.py).
"""

from __future__ import annotations

import time
import uuid

from apps.api.models import ApiKey
from apps.api.selectors import key_hash

TTL_S = 5.0
MAX_ENTRIES = 10_000

# Process-wide state ---------------------------------------------------------------------
# _entries: sha256 of the raw key -> (monotonic deadline, the usable key with its tenant).
#   Keyed by the hash, so no raw key is kept. Read and written from request threads: each
#   operation is a single dict call (atomic under the GIL); a race at worst loads a key
#   twice. Cleared whole when it reaches MAX_ENTRIES. Tests need no reset: every test
#   makes keys of its own, and an entry answers only to its own raw key.
_entries: dict[str, tuple[float, ApiKey]] = {}


def get(raw_key: str) -> ApiKey | None:
    entry = _entries.get(key_hash(raw_key))
    if entry is None or entry[0] <= time.monotonic():
        return None
    return entry[1]


def put(raw_key: str, key: ApiKey) -> None:
    if len(_entries) >= MAX_ENTRIES:
        _entries.clear()
    _entries[key_hash(raw_key)] = (time.monotonic() + TTL_S, key)


def forget(key_id: uuid.UUID) -> None:
    """Drop the key from this process's cache (it was revoked here)."""
    for digest, (_, key) in list(_entries.items()):
        if key.id == key_id:
            _entries.pop(digest, None)


def clear() -> None:
    _entries.clear()
