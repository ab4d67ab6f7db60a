"""Which addresses count as public internet addresses for feed fetching (a table written from
the IANA special-purpose registries, not derived from the code under test), and the setting
that lets the operator allow servers that are not public."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.config import Settings
from app.news.public_fetch import is_public_address

NOT_PUBLIC = [
    "127.0.0.1", "127.255.255.254",  # loopback
    "0.0.0.0", "0.1.2.3",  # "this network", unspecified
    "10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1",  # private
    "100.64.0.1",  # shared address space (carrier-grade NAT)
    "169.254.169.254",  # link-local (cloud metadata)
    "192.0.0.8", "192.0.2.1", "198.18.0.1", "198.51.100.7", "203.0.113.9",  # special, test
    "224.0.0.1", "239.255.255.250",  # multicast
    "240.0.0.1", "255.255.255.255",  # reserved, broadcast
    "::", "::1",  # unspecified, loopback
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:8.8.8.8",  # IPv4-mapped
    "fe80::1", "fc00::1", "fd12:3456::1",  # link-local, unique local
    "ff02::1", "ff0e::1",  # multicast
    "2001:db8::1",  # documentation
    "2002:7f00:1::1", "2002:a00:1::1",  # 6to4 of 127.0.0.1 and 10.0.0.1
    "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe",  # NAT64 of 127.0.0.1 and 169.254.169.254
    "not an address", "", "localhost",
]  # fmt: skip
PUBLIC = ["8.8.8.8", "93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4001::1",
          "2002:808:808::1", "64:ff9b::808:808"]  # fmt: skip


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_internal_and_special_addresses_are_not_public(address: str) -> None:
    assert not is_public_address(address)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_public(address: str) -> None:
    assert is_public_address(address)


def test_the_allow_list_setting_names_hosts_and_ports() -> None:
    settings = Settings(feed_allow_hosts=" 127.0.0.1:8080, Feeds.Example.org,[::1]:80,")
    assert settings.feed_allowed_hosts == {
        ("127.0.0.1", 8080),
        ("feeds.example.org", None),  # any port
        ("::1", 80),
    }
    assert Settings().feed_allowed_hosts == frozenset()  # the default: nothing but public


@pytest.mark.parametrize("entry", ["http://intranet", "intranet:http", "user@intranet:80",
                                   "intranet/feeds", "intranet:99999", ":8080"])  # fmt: skip
def test_an_allow_list_entry_that_is_not_host_and_port_is_refused(entry: str) -> None:
    with pytest.raises(ValidationError, match="not a host or host:port"):
        Settings(feed_allow_hosts=entry)
