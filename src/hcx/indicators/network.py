"""Domains, URLs, e-mail addresses, IP addresses and CIDR blocks.

Domains are kept as lower-case A-labels (IDNA 2008 with UTS #46 mapping, via `idna`), shown as
U-labels; they must sit under a public suffix. The registrable domain comes from the Public Suffix
List snapshot shipped inside `tldextract` (never fetched: no URLs, no cache directory), private
suffixes included, because `evil.blogspot.com` and `good.blogspot.com` have different owners.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from urllib.parse import quote, urlsplit

import idna
import tldextract

from hcx.errors import InvalidInput
from hcx.indicators.model import Indicator, IndicatorKind

URL_SCHEMES = frozenset({"http", "https", "ftp", "ftps", "ws", "wss"})
_DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21, "ws": 80, "wss": 443}
_ASCII_HOSTNAME = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}")
_NON_URL_SAFE = "!#$%&'()*+,/:;=?@[]~"
# four decimal octets 0-255 without leading zeros (ASCII digits only): exactly the strings that
# ipaddress accepts as IPv4 and prints back unchanged
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_CANONICAL_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")


@functools.cache
def _public_suffixes() -> tldextract.TLDExtract:
    return tldextract.TLDExtract(
        cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True, include_psl_private_domains=True
    )


def registrable_domain(a_label_host: str) -> str:
    """The domain a registrant controls (`www.example.co.uk` → `example.co.uk`), or "" if none."""
    return _public_suffixes()(a_label_host).top_domain_under_public_suffix


def domain_a_label(text: str) -> str:
    """`text` as a lower-case A-label host name, or `InvalidInput`."""
    host = text.rstrip(".").lower()
    if _ASCII_HOSTNAME.fullmatch(host) and "xn--" not in host:
        a_label = host
    else:
        try:
            a_label = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            raise InvalidInput(f"not a domain name: {exc}") from exc
    if len(a_label) > 253:
        raise InvalidInput("not a domain name: longer than 253 characters")
    if "." not in a_label or not registrable_domain(a_label):
        raise InvalidInput("not a public domain name: no registrable domain under a public suffix")
    return a_label


def u_label(a_label: str) -> str:
    if "xn--" not in a_label:
        return a_label
    try:
        return str(idna.decode(a_label))
    except idna.IDNAError:
        return a_label


def _shown_domain(a_label: str) -> str:
    unicode_form = u_label(a_label)
    return unicode_form if unicode_form == a_label else f"{unicode_form} ({a_label})"


def normalise_domain(text: str) -> Indicator:
    a_label = domain_a_label(text)
    return Indicator(IndicatorKind.DOMAIN, a_label, _shown_domain(a_label))


def normalise_email(text: str) -> Indicator:
    if text[:7].lower() == "mailto:":
        text = text[7:].split("?", 1)[0]
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        raise InvalidInput("not an e-mail address: expected local-part@domain")
    if len(local) > 64 or any(char.isspace() for char in local) or "@" in local.strip('"'):
        raise InvalidInput("not an e-mail address: invalid local part")
    a_label = domain_a_label(domain)
    local = local.lower()
    return Indicator(IndicatorKind.EMAIL, f"{local}@{a_label}", f"{local}@{u_label(a_label)}")


def normalise_url(text: str) -> Indicator:
    if "://" not in text and text.lower().startswith("www."):
        text = "http://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"not a URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in URL_SCHEMES:
        raise InvalidInput(f"not a URL: scheme must be one of {', '.join(sorted(URL_SCHEMES))}")
    if not parts.hostname:
        raise InvalidInput("not a URL: no host")
    host = _url_host(parts.hostname)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = (userinfo + "@" if userinfo else "") + host
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc += f":{port}"
    path = quote(parts.path, safe=_NON_URL_SAFE) or "/"
    query = "?" + quote(parts.query, safe=_NON_URL_SAFE) if parts.query else ""
    value = f"{scheme}://{netloc}{path}{query}"
    return Indicator(IndicatorKind.URL, value, value)


def _url_host(hostname: str) -> str:
    try:
        address = ipaddress.ip_address(hostname)
    except ValueError:
        return domain_a_label(hostname)
    return f"[{address.compressed}]" if address.version == 6 else address.compressed


def normalise_ip(text: str, expected: IndicatorKind | None = None) -> Indicator:
    """An address (ipv4 / ipv6) or a network (cidr); a /32 or /128 network is an address."""
    if "/" in text:
        try:
            network = ipaddress.ip_network(text, strict=True)
        except ValueError as exc:
            raise InvalidInput(f"not a CIDR block: {exc}") from exc
        if network.num_addresses > 1:
            if expected not in (None, IndicatorKind.CIDR):
                raise InvalidInput(f"expected a single {expected} address, got a network")
            return Indicator(IndicatorKind.CIDR, network.compressed, network.compressed)
        text = str(network.network_address)
    candidate = text.strip("[]")
    if _CANONICAL_IPV4.fullmatch(candidate):  # already the form ipaddress gives back: skip parsing it
        kind, compressed = IndicatorKind.IPV4, candidate
    else:
        try:
            address = ipaddress.ip_address(candidate)
        except ValueError as exc:
            raise InvalidInput(f"not an IP address: {exc}") from exc
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        kind = IndicatorKind.IPV4 if address.version == 4 else IndicatorKind.IPV6
        compressed = address.compressed
    if expected in (IndicatorKind.IPV4, IndicatorKind.IPV6) and kind is not expected:
        raise InvalidInput(f"expected an {expected} address, got an {kind} address")
    return Indicator(kind, compressed, compressed)
