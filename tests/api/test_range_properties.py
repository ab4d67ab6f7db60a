"""Property: Range requests for the station's files (the story audio players seek in, the
player's own files; both FileResponse) answer as RFC 9110 says, checked against an oracle
written here: a satisfiable single range gets 206 with exactly those bytes and a matching
Content-Range; one that starts past the end gets 416 with `bytes */size`; a header that is not
a valid range is ignored (200, the whole file) or refused (400); and whatever the header holds,
never a server error, and a part sent is always the bytes its Content-Range names."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.api.static import STATIC_DIR
from tests.accounts.harness import TestClient, running_app

FILE = "player.js"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with running_app(tmp_path_factory.mktemp("station")) as client:
        yield client


@pytest.fixture(scope="module")
def data() -> bytes:
    return (STATIC_DIR / FILE).read_bytes()


def expected_slice(spec: str, size: int) -> tuple[int, int] | str | None:
    """(first, last) for a satisfiable single byte range, "416" for one that is not, None for
    a header that is not a single valid range. RFC 9110, 14.1.2."""
    found = re.fullmatch(r"bytes=(\d*)-(\d*)", spec)
    if found is None or found[1] == found[2] == "":
        return None
    if found[1] == "":  # a suffix: the last N bytes
        suffix = int(found[2])
        return (max(size - suffix, 0), size - 1) if suffix > 0 else "416"
    first = int(found[1])
    last = int(found[2]) if found[2] else size - 1
    if last < first:
        return None
    return (first, min(last, size - 1)) if first < size else "416"


def numbers(size: int) -> st.SearchStrategy[str]:
    near = st.integers(0, 4).flatmap(lambda d: st.sampled_from([d, size - d, size + d]))
    return st.one_of(st.just(""), near.filter(lambda n: n >= 0).map(str),
                     st.integers(0, 2**70).map(str))  # fmt: skip


def headers(size: int) -> st.SearchStrategy[str]:
    single = st.builds(lambda a, b: f"bytes={a}-{b}", numbers(size), numbers(size))
    noise = st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=30)
    parts = st.builds(lambda a, b: f"{a}-{b}", numbers(size), numbers(size))
    multi = st.lists(parts, min_size=2, max_size=4).map(lambda p: "bytes=" + ",".join(p))
    return st.one_of(single, multi, noise, noise.map(lambda s: "bytes=" + s))


def test_range_requests_answer_as_the_rfc_says(client: TestClient, data: bytes) -> None:
    size = len(data)

    @settings(max_examples=300, deadline=None)
    @given(headers(size))
    def check(spec: str) -> None:
        response = client.get(f"/static/{FILE}", headers={"Range": spec.encode("latin-1")})
        assert response.status_code in (200, 206, 400, 416), (spec, response.status_code)
        wanted = expected_slice(spec, size)
        if isinstance(wanted, tuple):
            first, last = wanted
            assert response.status_code == 206, (spec, response.status_code)
            assert response.headers["content-range"] == f"bytes {first}-{last}/{size}"
            assert response.content == data[first : last + 1]
        elif wanted == "416":
            assert response.status_code == 416, (spec, response.status_code)
            assert response.headers["content-range"] == f"bytes */{size}"
        elif response.status_code == 200:
            assert response.content == data
        # Whatever the header, a single part is the bytes its Content-Range names.
        stated = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", response.headers.get("content-range", ""))
        if response.status_code == 206 and stated:
            first, last = int(stated[1]), int(stated[2])
            assert int(stated[3]) == size
            assert response.content == data[first : last + 1], spec

    check()
