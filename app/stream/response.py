"""The head of a stream response: what Icecast sends, so every stream client feels at home."""

from __future__ import annotations

from dataclasses import dataclass

from app.headers import STREAM_HEADERS

# Browsers hide response headers from a cross-origin page's script unless they are exposed:
# a web player needs every icy-* and ice-* header (icy-metaint for the metadata's framing).
EXPOSED = (
    "icy-metaint, icy-name, icy-description, icy-genre, icy-url, icy-br, icy-sr, icy-pub, "
    "ice-audio-info"
)


@dataclass(frozen=True)
class StreamInfo:
    name: str
    description: str
    genre: str
    url: str
    public: bool
    bitrate_kbps: int
    sample_rate: int
    metaint: int
    content_type: str = "audio/mpeg"
    channels: int = 2
    in_band_titles: bool = True  # ICY metadata on request (not for Ogg, as Icecast does)


def wants_icy(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(name == b"icy-metadata" and value.strip() == b"1" for name, value in headers)


def response_head(info: StreamInfo, icy: bool) -> bytes:
    # HTTP/1.0 like Icecast: the body ends when the connection does, with no chunked framing.
    lines = [
        "HTTP/1.0 200 OK",
        f"Content-Type: {info.content_type}",
        f"icy-name: {_header_safe(info.name)}",
        f"icy-description: {_header_safe(info.description)}",
        f"icy-genre: {_header_safe(info.genre)}",
        f"icy-url: {_header_safe(info.url)}",
        f"icy-br: {info.bitrate_kbps}",
        f"icy-sr: {info.sample_rate}",
        f"icy-pub: {int(info.public)}",
        f"ice-audio-info: ice-samplerate={info.sample_rate};ice-bitrate={info.bitrate_kbps};"
        f"ice-channels={info.channels}",
        "Cache-Control: no-cache, no-store",
        "Pragma: no-cache",
        "Access-Control-Allow-Origin: *",
        "Access-Control-Allow-Headers: Origin, Accept, Range, Content-Type, Icy-MetaData",
        "Access-Control-Allow-Methods: GET, OPTIONS, HEAD",
        f"Access-Control-Expose-Headers: {EXPOSED}",
        *(f"{name}: {value}" for name, value in STREAM_HEADERS.items()),
        "Connection: close",
    ]
    if icy:
        lines.append(f"icy-metaint: {info.metaint}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def _header_safe(value: str) -> str:
    return " ".join(value.split())  # no CR/LF smuggled into the response head
