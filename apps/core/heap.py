"""The cyclic garbage collector in long-running async servers (docs/adr/0006-heap-freeze.md).

CPython's collector stops the whole process while it runs, and a full (generation 2)
collection walks every container object alive. A web worker with Django and LiteLLM
loaded holds about half a million of them from start-up alone, so each full collection
froze the event loop for 200-400 ms: every open stream stalled that long, every few
seconds under load. Two remedies, both from the ``gc`` module's own documentation:

- ``freeze_startup_heap`` moves everything alive once start-up is done (modules,
  classes, settings, the tokenizer) into the permanent generation, which collections
  skip: they then walk only what requests created.
- ``set_thresholds`` collects the young generations less often, so fewer objects that
  live as long as a stream (a few seconds) get walked again and again.

Pure standard library, no Django: the local provider uses it too.
"""

from __future__ import annotations

import gc
import logging

logger = logging.getLogger(__name__)

# Generation 0 is collected after this many net allocations (CPython's default: 700),
# generation 1 after this many generation-0 collections (10), generation 2 after this
# many generation-1 collections (10) and once the objects that reached it since the last
# full collection are a quarter of those there.
DEFAULT_THRESHOLDS = (20_000, 20, 100)


def freeze_startup_heap() -> int:
    """Collect once, then exclude every object alive now from later collections.
    Returns how many objects were frozen. Call once, when start-up is complete."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    logger.info("start-up heap frozen", extra={"objects": frozen})
    return frozen


def parse_thresholds(raw: str, *, name: str = "GC_THRESHOLDS") -> tuple[int, int, int]:
    """``"20000,20,100"`` (three positive integers) as thresholds; blank means the
    default. Anything else raises ValueError saying what to write."""
    if not raw.strip():
        return DEFAULT_THRESHOLDS
    try:
        values = tuple(int(part) for part in raw.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or min(values) < 1:
        raise ValueError(f"{name} must be three positive integers like 20000,20,100; got {raw!r}.")
    return values[0], values[1], values[2]


def set_thresholds(thresholds: tuple[int, int, int]) -> None:
    gc.set_threshold(*thresholds)
