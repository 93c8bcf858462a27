"""SSRF guard: refuse destinations on loopback, private, link-local or multicast addresses.

Feed URLs come from users and from redirects chosen by remote servers, so a feed
could point the daemon at an internal service (a cloud metadata endpoint, a local
admin port). The check runs on the addresses the host name *resolves to*, so odd
spellings (decimal ``2130706433``, octal, IPv4-mapped IPv6) are judged by what they
are, and it runs again on every redirect hop.

Two checks, one rule (:func:`refusal`): :func:`check_destination` before a request
(for a readable early error, and for IP literals, which the connector never resolves)
and :class:`aggregator.sources.transport.GuardedResolver` inside the connector, on the
very addresses it is about to connect to, so a DNS answer that changes between two
lookups (rebinding) cannot slip through.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from urllib.parse import urlsplit

from aggregator.config import FetchSettings
from aggregator.errors import BlockedAddressError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_blocked_address(address: IPAddress) -> bool:
    """True for any address a public feed has no business resolving to."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


def is_allowed_host(host: str, port: int, settings: FetchSettings) -> bool:
    """Private destinations the user opted into, all at once or one host at a time."""
    host = host.lower().rstrip(".")
    allowed = {entry.lower() for entry in settings.allow_hosts}
    return settings.allow_private_networks or host in allowed or f"{host}:{port}" in allowed


_NUMERIC_HOST = re.compile(r"(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}", re.IGNORECASE)


class BlockedDestination(OSError):
    """Raised inside the connector; :mod:`aggregator.sources.http` turns it into
    :class:`BlockedAddressError` for the feed."""


def refusal(host: str, port: int, addresses: list[str], settings: FetchSettings) -> str:
    """Why connecting to ``host`` at ``addresses`` is refused, or "" when it is allowed."""
    if is_allowed_host(host, port, settings):
        return ""
    for text in addresses:
        address = ipaddress.ip_address(text.split("%")[0])
        if is_blocked_address(address):
            return (
                f"refused: {host} resolves to the non-public address {address} "
                "(set [fetch] allow_private_networks = true or list the host in "
                "[fetch] allow_hosts to allow it)"
            )
    return ""


async def check_destination(
    url: str, settings: FetchSettings, *, resolve_names: bool = True
) -> None:
    """Raise :class:`BlockedAddressError` unless every address of the URL's host is public.

    With ``resolve_names=False`` host names are left to a connector that guards its
    own resolution (:class:`~aggregator.sources.transport.GuardedResolver`); IP literals,
    which no resolver sees, are always checked here, without any DNS lookup.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if parts.scheme not in {"http", "https"}:
        raise BlockedAddressError(url, "refused: only http and https URLs are fetched")
    if is_allowed_host(host, port, settings):
        return
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    # "2130706433", "0177.0.0.1", "127.1": numbers the system resolver reads as
    # addresses (inet_aton); always resolved here, so the refusal names what they mean.
    numeric = literal is None and bool(_NUMERIC_HOST.fullmatch(host))
    if literal is not None or (not resolve_names and not numeric):
        problem = refusal(host, port, [str(literal)], settings) if literal else ""
        if problem:
            raise BlockedAddressError(url, problem)
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise BlockedAddressError(url, f"cannot resolve host {host!r} ({exc.strerror})") from None
    problem = refusal(host, port, [str(info[4][0]) for info in infos], settings)
    if problem:
        raise BlockedAddressError(url, problem)
