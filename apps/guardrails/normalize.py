"""Text as a detector should read it: the tricks that hide words from a pattern undone.

``normalize`` folds compatibility forms (NFKC: full-width letters, ligatures, circled
letters), removes zero-width and bidirectional control characters (which split words
or reorder them on screen), replaces other control characters by spaces and lower-cases.
Look-alike letters of other scripts inside Latin words are folded to Latin
(apps/guardrails/spelling.py). ``decoded_runs`` finds base64, hex and rot13 payloads
and returns their decoded text, so "aWdub3JlIGFsbCBwcmV2aW91cyBpbnN0cnVjdGlvbnM=" is read
as what it says (a rot13 run when it is named or when rotating it yields common words).
Decoding nests (base64 of hex of ...) up to MAX_DEPTH levels, and stops at MAX_DECODED_CHARS, so
a crafted payload cannot make the scan slow.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata

from apps.guardrails.spelling import fold_homoglyphs, looks_rot13

# Zero-width and joiner characters, the soft hyphen, the word joiner and invisible
# operators, the BOM, and every bidirectional embedding, override and isolate control.
_INVISIBLE = dict.fromkeys(
    [
        0x00AD,
        0x034F,
        0x061C,
        0x115F,
        0x1160,
        0x17B4,
        0x17B5,
        0x180E,
        *range(0x200B, 0x2010),
        *range(0x202A, 0x202F),
        *range(0x2060, 0x2070),
        0x3164,
        0xFEFF,
        0xFFA0,
    ]
)
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SPACES_RE = re.compile(r"\s+")
# Lone surrogates: a JSON body may carry them ("\\ud800"), and they cannot be encoded.
_SURROGATE_RE = re.compile(r"[\ud800-\udfff]")

_BASE64_RE = re.compile(r"(?:[A-Za-z0-9+/]{4}){4,}(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_BASE64URL_RE = re.compile(r"[A-Za-z0-9_-]{20,}={0,2}")
_HEX_RE = re.compile(r"(?:(?:0x)?[0-9a-fA-F]{2}[\s:]?){12,}")
# Every match of both base64 patterns above holds 16 characters of this class: a text
# without such a run skips them (same result, one fast scan instead of two).
_BASE64_GATE = re.compile(r"[A-Za-z0-9+/_-]{16}")
# Every match of _HEX_RE is 24 or more characters of this class (12 pairs of digits, each
# with an optional "0x" and separator): a text without such a run skips it.
_HEX_GATE = re.compile(r"[0-9a-fA-Fx\s:]{24,}")
_ROT13_HINT_RE = re.compile(r"\brot-?13\b|\bvtaber\b|\bcerivbhf\b|\bvafgehpgvbaf\b", re.I)

MAX_DEPTH = 3
MAX_DECODED_CHARS = 20_000
MIN_PRINTABLE = 0.9


def strip_invisible(text: str) -> str:
    """``text`` without invisible characters; lone surrogates become U+FFFD."""
    return _SURROGATE_RE.sub("\ufffd", text.translate(_INVISIBLE))


def normalize(text: str) -> str:
    """NFKC, invisible characters removed, controls as spaces, lower case, spaces
    collapsed, Cyrillic and Greek look-alikes inside Latin words folded to Latin."""
    text = unicodedata.normalize("NFKC", strip_invisible(text))
    text = _CONTROL_RE.sub(" ", text)
    return fold_homoglyphs(_SPACES_RE.sub(" ", text).strip().casefold())


def _printable(raw: bytes) -> str | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text:
        return None
    good = sum(1 for c in text if c.isprintable() or c in "\n\t")
    wordy = sum(1 for c in text if c.isalnum() or c.isspace())
    if good / len(text) < MIN_PRINTABLE or wordy < len(text) * 0.7:
        return None
    return text


def _decode_one(text: str) -> list[str]:
    out: list[str] = []
    if _BASE64_GATE.search(text):
        out += _decode_base64(text)
    for match in _HEX_RE.finditer(text) if _HEX_GATE.search(text) else ():
        digits = re.sub(r"0x|[\s:]", "", match.group(0))
        if len(digits) % 2:
            digits = digits[:-1]
        try:
            decoded = _printable(bytes.fromhex(digits))
        except ValueError:
            decoded = None
        if decoded:
            out.append(decoded)
    if _ROT13_HINT_RE.search(text) or looks_rot13(text):
        out.append(codecs.decode(text, "rot13"))
    return out


def _decode_base64(text: str) -> list[str]:
    out: list[str] = []
    for match in _BASE64_RE.finditer(text):
        chunk = match.group(0)
        try:
            decoded = _printable(base64.b64decode(chunk + "=" * (-len(chunk) % 4)))
        except (binascii.Error, ValueError):
            decoded = None
        if decoded:
            out.append(decoded)
    for match in _BASE64URL_RE.finditer(text):
        chunk = match.group(0)
        if "-" not in chunk and "_" not in chunk:
            continue  # plain base64: read above
        try:
            decoded = _printable(base64.urlsafe_b64decode(chunk + "=" * (-len(chunk) % 4)))
        except (binascii.Error, ValueError):
            decoded = None
        if decoded:
            out.append(decoded)
    return out


def decoded_runs(text: str) -> list[str]:
    """Decoded text of the encoded runs in ``text``, nested up to MAX_DEPTH levels."""
    found: list[str] = []
    frontier = [text]
    budget = MAX_DECODED_CHARS
    for _ in range(MAX_DEPTH):
        nxt: list[str] = []
        for item in frontier:
            for decoded in _decode_one(item):
                if budget <= 0:
                    return found
                decoded = decoded[:budget]
                budget -= len(decoded)
                found.append(decoded)
                nxt.append(decoded)
        if not nxt:
            break
        frontier = nxt
    return found
