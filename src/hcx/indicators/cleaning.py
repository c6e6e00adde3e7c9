"""Strip the noise that surrounds values in real reports, before any kind-specific rule runs.

Handles: compatibility forms (NFKC: full-width digits and letters), invisible characters
(zero-width, bidi controls, soft hyphen, BOM), surrounding white space, quotes and brackets,
trailing sentence punctuation, and the usual "defanging" of threat-intel feeds
(`hxxp://`, `example[.]com`, `user[at]example.com`).
"""

from __future__ import annotations

import re
import unicodedata

from hcx.errors import InvalidInput

MAX_VALUE_CHARS = 4096

_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_PAIRS = {
    '"': '"',
    "'": "'",
    "`": "`",
    "<": ">",
    "(": ")",
    "[": "]",
    "{": "}",
    "\u201c": "\u201d",
    "\u2018": "\u2019",
    "\u00ab": "\u00bb",
}
_TRAILING_PUNCTUATION = ".,;:!?"
# Matches wherever one of the substitutions below could (a bracketed `:`, `.`, `dot`, `@` or `at`, or
# hxxp/fxp in front); text it does not match is left as it is by all of them, so "(0)20 7946" or
# "(201) 555-0123" skip the five substitutions.
_MAYBE_DEFANGED = re.compile(r"[\[({](?:[:.@]|dot|at)[\])}]|^(?:hxxp|fxp)", re.IGNORECASE)
_DEFANGED = (
    (re.compile(r"^hxxp(s?)(?=(\[?:\]?)//)", re.IGNORECASE), r"http\1"),
    (re.compile(r"^fxp(?=(\[?:\]?)//)", re.IGNORECASE), "ftp"),
    (re.compile(r"\[:\]|\(:\)"), ":"),
    (re.compile(r"\[(?:\.|dot)\]|\((?:\.|dot)\)|\{(?:\.|dot)\}", re.IGNORECASE), "."),
    (re.compile(r"\[(?:@|at)\]|\((?:@|at)\)|\{(?:@|at)\}", re.IGNORECASE), "@"),
)


def clean(raw: str) -> str:
    """Return `raw` without surrounding noise, or raise `InvalidInput` if nothing is left."""
    if len(raw) > MAX_VALUE_CHARS:
        raise InvalidInput(f"value longer than {MAX_VALUE_CHARS} characters")
    # NFKC and the invisible characters only concern non-ASCII text: most values skip both.
    text = raw.strip() if raw.isascii() else _INVISIBLE.sub("", unicodedata.normalize("NFKC", raw)).strip()
    changed = bool(text) and (text[0] in _PAIRS or text[-1] in _TRAILING_PUNCTUATION)
    while changed and text:
        before = text
        text = text.rstrip(_TRAILING_PUNCTUATION).strip()
        closer = _PAIRS.get(text[:1])
        if closer is not None and len(text) >= 2 and text.endswith(closer):
            text = text[1:-1].strip()
        changed = text != before
    if _MAYBE_DEFANGED.search(text):
        for pattern, replacement in _DEFANGED:
            text = pattern.sub(replacement, text)
    if not text:
        raise InvalidInput("empty value")
    return text


_LONG_DIGIT_RUN = re.compile(r"\d(?:[\s\-.]?\d){11,}")
EXCERPT_CHARS = 80


def safe_excerpt(raw: str) -> str:
    """What a rejection report may repeat of a raw value: at most 80 characters, and any run of 12
    or more digits (a possible card number) reduced to its last four."""
    masked = _LONG_DIGIT_RUN.sub(lambda match: "…" + re.sub(r"\D", "", match.group())[-4:], raw)
    return masked if len(masked) <= EXCERPT_CHARS else masked[: EXCERPT_CHARS - 1] + "…"
