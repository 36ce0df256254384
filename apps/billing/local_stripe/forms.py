"""Stripe's form encoding: ``line_items[0][price]=p&metadata[k]=v&expand[]=x`` to a tree.

Brackets make objects (``a[b]``); an empty pair appends to a list (``a[]``). Indexed
arrays (``a[0]``, what stripe-python sends) stay objects with digit keys here: only the
spec knows a parameter is an array, and ``spec.validate`` turns them into lists.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from apps.billing.local_stripe.errors import invalid

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")


def path_name(parts: Iterable[str]) -> str:
    """``["line_items", "0", "price"]`` → ``line_items[0][price]``, as Stripe names params."""
    head, *rest = list(parts)
    return head + "".join(f"[{part}]" for part in rest)


def _split(key: str) -> list[str]:
    match = _KEY.match(key)
    if match is None:
        raise invalid(f"Invalid parameter name: {key}", param=key)
    parts = [match.group(1), *_PART.findall(match.group(2))]
    if "" in parts[:-1]:
        # a[][b]: which list element a key belongs to is ambiguous; Stripe's clients
        # index their arrays instead.
        raise invalid(f"Invalid parameter name: {key}", param=key)
    return parts


def decode(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Form pairs to nested dicts and lists of strings; a later scalar replaces an
    earlier one; a key used both as a value and as an object is a 400."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = _split(key)
        node = root
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = [] if parts[depth + 1] == "" else {}
                node[part] = child
            elif not isinstance(child, dict | list) or (
                isinstance(child, list) != (parts[depth + 1] == "")
            ):
                raise invalid(f"Invalid value for {path_name(parts[: depth + 1])}.")
            if isinstance(child, list):
                child.append(value)
                break
            node = child
        else:
            if isinstance(node.get(parts[-1]), dict | list):
                raise invalid(f"Invalid value for {path_name(parts)}.", param=path_name(parts))
            node[parts[-1]] = value
    return root
