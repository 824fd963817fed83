"""A profile's proxy setting: the spellings taken (and written one way), and what is refused with a reason."""

from __future__ import annotations

import pytest

from im_desktop.local.address_rules import DIRECT, SYSTEM_PROXY, check_proxy
from im_desktop.protocol.client import ProtocolClient


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("", SYSTEM_PROXY),
        ("  ", SYSTEM_PROXY),
        ("direct", DIRECT),
        ("http://127.0.0.1:3128", "http://127.0.0.1:3128"),
        (" HTTP://Proxy.Example.com:8080/ ", "http://proxy.example.com:8080"),
        ("socks5://127.0.0.1:1080", "socks5://127.0.0.1:1080"),
        ("socks5h://tor.local:9050", "socks5h://tor.local:9050"),
        ("socks5://[::1]:1080", "socks5://[::1]:1080"),
    ],
)
def test_proxy_settings_are_taken_in_one_spelling(typed: str, kept: str) -> None:
    assert check_proxy(typed) == kept


@pytest.mark.parametrize(
    ("typed", "why"),
    [
        ("proxy.example.com:3128", "http://host:port"),  # no scheme
        ("ftp://proxy.example.com:21", "http://host:port"),
        ("https://proxy.example.com:443", "http://host:port"),  # TLS to the proxy: not offered
        ("http://proxy.example.com", "needs a port"),
        ("http://proxy.example.com:0", "needs a port"),
        ("http://proxy.example.com:70000", "needs a port"),
        ("http://proxy.example.com:port", "needs a port"),
        ("http://alice:secret@proxy.example.com:3128", "no secrets"),
        ("http://alice@proxy.example.com:3128", "no secrets"),
        ("http://proxy.example.com:3128/path", "nothing after"),
        ("http://proxy.example.com:3128?x=1", "nothing after"),
        ("http://:3128", "http://host:port"),
        ("http://prøxy.example.com:3128", "http://host:port"),
        ("http://proxy.exa\nmple.com:3128", "http://host:port"),
        ("http://" + "a" * 400 + ":3128", "http://host:port"),
    ],
)
def test_anything_else_is_refused_with_a_reason(typed: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        check_proxy(typed)


def test_the_client_refuses_a_proxy_that_is_not_one() -> None:
    with pytest.raises(ValueError, match="needs a port"):
        ProtocolClient("http://127.0.0.1:1", proxy="http://proxy.example.com")


def test_direct_is_never_proxied_and_the_system_is_when_the_environment_names_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert not ProtocolClient("http://127.0.0.1:1").proxied
    assert ProtocolClient("http://127.0.0.1:1", proxy="socks5://127.0.0.1:1080").proxied
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:3128")
    assert ProtocolClient("http://127.0.0.1:1").proxied
    assert not ProtocolClient("http://127.0.0.1:1", proxy=DIRECT).proxied
