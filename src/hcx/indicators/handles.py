"""Social-media and messenger handles, per platform.

The canonical value is `platform:handle` (e.g. `telegram:scam_support`). Each platform's rule is
data in `PLATFORMS`: the names people use for it, the hosts of its profile links, and the shape of
a handle. A handle is accepted as `@name` with a platform hint, as `platform:@name`, or as a
profile link (`https://t.me/name`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from hcx.errors import InvalidInput
from hcx.indicators.model import Indicator, IndicatorKind


@dataclass(frozen=True, slots=True)
class Platform:
    name: str
    aliases: frozenset[str]
    hosts: frozenset[str]
    handle: re.Pattern[str]
    case_sensitive: bool = False


PLATFORMS = (
    Platform(
        "telegram",
        frozenset({"telegram", "tg"}),
        frozenset({"t.me", "telegram.me"}),
        re.compile(r"[a-z][a-z0-9_]{3,31}", re.I),
    ),
    Platform(
        "x",
        frozenset({"x", "twitter"}),
        frozenset({"x.com", "twitter.com", "mobile.twitter.com"}),
        re.compile(r"[a-z0-9_]{1,15}", re.I),
    ),
    Platform(
        "instagram", frozenset({"instagram", "ig"}), frozenset({"instagram.com"}), re.compile(r"[a-z0-9._]{1,30}", re.I)
    ),
    Platform(
        "facebook",
        frozenset({"facebook", "fb"}),
        frozenset({"facebook.com", "m.facebook.com", "fb.com"}),
        re.compile(r"[a-z0-9.]{5,50}", re.I),
    ),
    Platform("tiktok", frozenset({"tiktok"}), frozenset({"tiktok.com"}), re.compile(r"[a-z0-9._]{2,24}", re.I)),
    Platform(
        "github",
        frozenset({"github", "github-username"}),
        frozenset({"github.com"}),
        re.compile(r"[a-z0-9](?:[a-z0-9-]{0,38})", re.I),
    ),
    Platform("discord", frozenset({"discord"}), frozenset(), re.compile(r"[a-z0-9_.]{2,32}", re.I)),
    Platform("skype", frozenset({"skype"}), frozenset(), re.compile(r"[a-z][a-z0-9.,\-_:]{5,31}", re.I)),
    Platform("wechat", frozenset({"wechat", "weixin"}), frozenset(), re.compile(r"[a-z][a-z0-9_\-]{5,19}", re.I)),
    Platform("line", frozenset({"line"}), frozenset({"line.me"}), re.compile(r"[a-z0-9._\-]{4,20}", re.I)),
)
_BY_ALIAS = {alias: platform for platform in PLATFORMS for alias in platform.aliases}
_BY_HOST = {host: platform for platform in PLATFORMS for host in platform.hosts}


def platform_named(name: str) -> Platform | None:
    return _BY_ALIAS.get(name.lower())


def platform_of_link(text: str) -> Platform | None:
    """The platform whose profile link `text` is, if any (used by `detect`)."""
    if "://" not in text and "/" in text:
        text = "https://" + text
    host = (urlsplit(text).hostname or "").removeprefix("www.")
    return _BY_HOST.get(host)


def normalise_handle(text: str, platform_hint: str | None) -> Indicator:
    platform = platform_named(platform_hint) if platform_hint else None
    if platform_hint and platform is None:
        raise InvalidInput(f"unknown handle platform {platform_hint!r}; known: {', '.join(p.name for p in PLATFORMS)}")
    name = text
    prefix, colon, rest = text.partition(":")
    if colon and platform_named(prefix) is not None and "//" not in rest:
        platform, name = platform_named(prefix), rest
    linked = platform_of_link(text)
    if linked is not None:
        if platform is not None and linked is not platform:
            raise InvalidInput(f"a {linked.name} link given as a {platform.name} handle")
        platform = linked
        name = urlsplit(text if "://" in text else "https://" + text).path.strip("/").split("/")[0]
    if platform is None:
        raise InvalidInput("a handle needs its platform (e.g. telegram:@name, or a profile link)")
    name = name.strip().removeprefix("@")
    if not platform.handle.fullmatch(name):
        raise InvalidInput(f"not a valid {platform.name} handle")
    canonical = name if platform.case_sensitive else name.lower()
    return Indicator(IndicatorKind.HANDLE, f"{platform.name}:{canonical}", f"{platform.name} @{canonical}")
