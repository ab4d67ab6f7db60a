"""Fetching a document from a public web server for a host, without letting the host reach
anything else through the station (server-side request forgery).

- Only http and https URLs.
- Every address a name resolves to must be a public internet address, checked when the
  connection is made, and the connection goes to the address that was checked: the name is
  resolved once, so a DNS answer cannot change between the check and the connect.
- Redirects are followed here, at most MAX_REDIRECTS, each to an http(s) URL whose server is
  checked the same way.
- A server that cannot be reached answers one message whatever the reason (a non-public
  address, a name that does not resolve, a refused or timed-out connection), so the errors
  cannot map a network. (What happens after connecting to a checked address, a failed TLS
  handshake, an HTTP status, a slow answer, is told as it is: it says nothing about what is
  not public.)
- A time limit on the whole fetch and a size limit on the body.

Servers the station's operator trusts (settings.feed_allow_hosts) skip the address check.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
import typing
from collections.abc import Iterable

import httpcore

if typing.TYPE_CHECKING:
    import httpx

MAX_REDIRECTS = 5
MAX_ADDRESSES = 4  # tried in turn when a name has several
UNREACHABLE = "cannot reach the feed's server (feeds are fetched only from public addresses)"
REDIRECTS = frozenset({301, 302, 303, 307, 308})

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IETF_PROTOCOLS = ipaddress.IPv4Network("192.0.0.0/24")  # not all of it is in is_private


class FetchError(Exception):
    """A document that could not be fetched; the message is fit for a host."""


class _Refused(httpcore.ConnectError):
    """A server the station may not connect to."""


class _TlsFailed(httpcore.ConnectError):
    """A checked server that was reached, whose TLS handshake failed (a bad certificate)."""


class _Stream(httpcore.NetworkStream):
    """A connection to a checked address; tells a failed TLS handshake from a failed connect
    (only a server the station may reach gets this far, so the difference maps nothing)."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self.stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.stream.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.stream.write(buffer, timeout)

    def close(self) -> None:
        self.stream.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:  # fmt: skip
        try:
            return self.stream.start_tls(ssl_context, server_hostname, timeout)
        except httpcore.ConnectError as error:
            cause = error.__cause__  # the ssl module's error, as httpcore maps it
            reason = getattr(cause, "verify_message", None) or getattr(cause, "reason", None)
            raise _TlsFailed(reason or str(error)) from error

    def get_extra_info(self, info: str) -> typing.Any:
        return self.stream.get_extra_info(info)


def is_public_address(address: str) -> bool:
    """Whether `address` (an IPv4 or IPv6 literal) is a public unicast internet address:
    not loopback, private, shared, link-local, multicast, reserved, unspecified or for
    documentation; never an IPv4-mapped IPv6 address, and a 6to4 or NAT64 address only as
    public as the IPv4 address it carries."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # reaches an IPv4 address, past an IPv4-only check
            return False
        if ip.sixtofour is not None:  # public exactly when the IPv4 address it carries is
            return is_public_address(str(ip.sixtofour))
        if ip in _NAT64:
            return is_public_address(str(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)))
    elif ip in _IETF_PROTOCOLS:
        return False
    return ip.is_global and not (
        ip.is_multicast
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_unspecified
    )


def resolve_host(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, in the resolver's order. (Tests replace this.)"""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in found))


class _PublicOnly(httpcore.NetworkBackend):
    """Connects only to public addresses, or to the allowed (host, port) pairs."""

    def __init__(self, allowed: frozenset[tuple[str, int | None]]) -> None:
        self.allowed = allowed
        self.backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        name = host.lower().strip("[]")
        trusted = (name, port) in self.allowed or (name, None) in self.allowed
        try:
            addresses = resolve_host(name, port)
        except (OSError, UnicodeError) as error:
            raise _Refused(f"{host} does not resolve") from error
        if not addresses or not (trusted or all(map(is_public_address, addresses))):
            raise _Refused(f"{host} is not a public address")
        failure: Exception = _Refused(f"no address of {host} answers")
        for address in addresses[:MAX_ADDRESSES]:  # the checked address, not the name
            try:
                return _Stream(self.backend.connect_tcp(address, port, timeout, local_address,
                                                        socket_options))  # fmt: skip
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        raise failure

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        raise _Refused("no local sockets")

    def sleep(self, seconds: float) -> None:
        self.backend.sleep(seconds)


def fetch_public(url: str, *, timeout: float, limit: int, accept: str,
                 allowed: frozenset[tuple[str, int | None]] = frozenset()) -> bytes:  # fmt: skip
    """The body of a GET of `url`: each read within `timeout` seconds, the whole within three
    times that, at most `limit` bytes. Raises FetchError."""
    import httpx  # for its URL parsing (IDNA, normalisation); imported when a feed is fetched

    deadline = time.monotonic() + 3 * timeout
    timeouts = {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
    try:
        target = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as error:
        raise FetchError("not a valid URL") from error
    with httpcore.ConnectionPool(network_backend=_PublicOnly(allowed), retries=0) as pool:
        for _ in range(MAX_REDIRECTS + 1):
            if time.monotonic() > deadline:
                raise FetchError(f"the feed took longer than {3 * timeout:g} s to arrive")
            if target.scheme not in ("http", "https") or not target.host:
                raise FetchError("only http and https URLs can be fetched")
            location = httpcore.URL(scheme=target.raw_scheme, host=target.raw_host,
                                    port=target.port, target=target.raw_path)  # fmt: skip
            headers = [(b"Host", target.netloc), (b"Accept", accept.encode()),
                       (b"User-Agent", b"radio-station feed import")]  # fmt: skip
            try:
                with pool.stream("GET", location, headers=headers,
                                 extensions={"timeout": timeouts}) as response:  # fmt: skip
                    answer = {k.decode("latin-1").lower(): v.decode("latin-1")
                              for k, v in response.headers}  # fmt: skip
                    if response.status in REDIRECTS and answer.get("location"):
                        target = _join(target, answer["location"])
                        continue
                    if response.status >= 300:
                        raise FetchError(f"the feed's server answered {response.status}")
                    return _body(response, answer, limit, deadline, timeout)
            except _TlsFailed as error:
                raise FetchError(f"the feed's server failed the TLS handshake: {error}") from error
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                raise FetchError(UNREACHABLE) from error
            except httpcore.TimeoutException as error:
                raise FetchError(f"the feed did not answer within {timeout:g} s") from error
            except (httpcore.NetworkError, httpcore.ProtocolError) as error:
                raise FetchError(f"the feed's server broke off: {error}") from error
    raise FetchError(f"the feed redirects more than {MAX_REDIRECTS} times")


def _join(base: httpx.URL, location: str) -> httpx.URL:
    """The httpx.URL a redirect's Location names, relative to the URL that answered."""
    import httpx

    try:
        return base.join(location.strip())
    except (httpx.InvalidURL, ValueError) as error:
        raise FetchError("the feed's server redirected to an invalid URL") from error


def _body(response: httpcore.Response, headers: dict[str, str], limit: int, deadline: float,
          timeout: float) -> bytes:  # fmt: skip
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise FetchError(f"the feed is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_stream():
        if time.monotonic() > deadline:  # the timeout is per read: a slow drip
            raise FetchError(f"the feed took longer than {3 * timeout:g} s to arrive")
        size += len(chunk)
        if size > limit:  # a server may lie about, or omit, its length
            raise FetchError(f"the feed is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
