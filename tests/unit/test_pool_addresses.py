"""Address specs: the forms operators write, the addresses they yield, and the errors."""

from __future__ import annotations

import ipaddress
import itertools

import pytest

from providers.pool.addresses import NO_SKIPS, Skips, parse_ip, parse_range

BUGGY = Skips(buggy=True)
ENDS = Skips(network_and_broadcast=True)


def _ips(spec: str, skips: Skips = NO_SKIPS) -> list[str]:
    return [str(ip) for ip in parse_range(spec).addresses(skips)]


def test_ipv4_cidr_yields_every_address_in_order() -> None:
    assert _ips("192.168.10.0/30") == [
        "192.168.10.0",
        "192.168.10.1",
        "192.168.10.2",
        "192.168.10.3",
    ]
    assert parse_range("192.168.10.0/24").size() == 256


def test_range_is_inclusive_at_both_ends() -> None:
    assert _ips("192.168.1.10-192.168.1.12") == ["192.168.1.10", "192.168.1.11", "192.168.1.12"]


def test_range_tolerates_spaces_around_the_dash() -> None:
    assert parse_range(" 10.0.0.1 - 10.0.0.2 ").size() == 2


def test_single_ips_are_one_address_of_their_family() -> None:
    v4, v6 = parse_range("192.168.1.7"), parse_range("2001:db8::7")
    assert (v4.size(), v4.family, v4.prefixlen) == (1, "IPv4", 32)
    assert (v6.size(), v6.family, v6.prefixlen) == (1, "IPv6", 128)
    assert _ips("2001:db8::7") == ["2001:db8::7"]


def test_ipv6_cidr_is_walked_in_order() -> None:
    r = parse_range("fc00::/120")
    assert r.size() == 256
    assert [str(ip) for ip in itertools.islice(r, 3)] == ["fc00::", "fc00::1", "fc00::2"]


def test_ipv6_slash_64_is_never_materialised() -> None:
    r = parse_range("2001:db8:1::/64")
    assert r.size() == 2**64
    first = list(itertools.islice(r.addresses(), 2))
    assert [str(ip) for ip in first] == ["2001:db8:1::", "2001:db8:1::1"]
    assert ipaddress.ip_address("2001:db8:1:0:ffff:ffff:ffff:ffff") in r
    assert ipaddress.ip_address("2001:db8:2::") not in r


def test_small_ipv6_values_stay_ipv6() -> None:
    assert [type(ip) for ip in parse_range("::-::1")] == [ipaddress.IPv6Address] * 2


def test_membership_checks_family_bounds_and_accepts_text() -> None:
    r = parse_range("198.51.100.10-198.51.100.20")
    assert "198.51.100.10" in r and "198.51.100.20" in r
    assert "198.51.100.21" not in r and "198.51.100.9" not in r
    assert "::ffff:198.51.100.10" not in r
    assert "not-an-ip" not in r and 42 not in r


@pytest.mark.parametrize(
    "spec",
    [
        "10.0.0.0/33",
        "10.0.0.300",
        "banana",
        "",
        "10.0.0.1-",
        "10.0.0.1-10.0.0.2-10.0.0.3",
        "fc00::/129",
    ],
)
def test_bad_specs_name_the_text_and_the_accepted_forms(spec: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_range(spec)
    assert f'"{spec}" is not an IP, CIDR or a-b range' in str(err.value)
    assert "192.168.1.10-192.168.1.20" in str(err.value)


def test_range_of_mixed_families_is_refused() -> None:
    with pytest.raises(ValueError, match="same family"):
        parse_range("10.0.0.1-fc00::1")


def test_backwards_range_is_refused() -> None:
    with pytest.raises(ValueError, match="starts after it ends"):
        parse_range("10.0.0.9-10.0.0.1")


def test_cidr_with_host_bits_suggests_the_network() -> None:
    with pytest.raises(ValueError, match=r"did you mean 192\.168\.1\.0/24"):
        parse_range("192.168.1.5/24")


def test_avoid_buggy_ips_skips_dot_zero_and_dot_255() -> None:
    r = parse_range("10.0.0.254-10.0.1.1")
    assert [str(ip) for ip in r.addresses(BUGGY)] == ["10.0.0.254", "10.0.1.1"]
    assert r.size(BUGGY) == 2
    assert not r.contains(ipaddress.IPv4Address("10.0.1.0"), BUGGY)
    assert r.contains(ipaddress.IPv4Address("10.0.1.0"))


def test_avoid_buggy_ips_size_matches_the_walk_over_a_slash_22() -> None:
    r = parse_range("10.4.0.0/22")
    assert r.size(BUGGY) == sum(1 for _ in r.addresses(BUGGY)) == 1024 - 8


def test_avoid_buggy_ips_leaves_ipv6_alone() -> None:
    assert parse_range("fc00::/120").size(BUGGY) == 256


def test_network_and_broadcast_skipped_only_for_cidrs_wider_than_slash_31() -> None:
    assert _ips("192.0.2.0/30", ENDS) == ["192.0.2.1", "192.0.2.2"]
    assert parse_range("192.0.2.0/30").size(ENDS) == 2
    assert _ips("192.0.2.0/31", ENDS) == ["192.0.2.0", "192.0.2.1"]
    assert _ips("192.0.2.0-192.0.2.3", ENDS) == ["192.0.2.0", "192.0.2.1", "192.0.2.2", "192.0.2.3"]


def test_both_skips_together_are_not_double_counted() -> None:
    both = Skips(buggy=True, network_and_broadcast=True)
    r = parse_range("192.0.2.0/24")
    assert r.size(both) == sum(1 for _ in r.addresses(both)) == 254
    r = parse_range("192.0.2.64/26")
    assert r.size(both) == sum(1 for _ in r.addresses(both)) == 62


def test_overlap_is_per_family() -> None:
    assert parse_range("10.0.0.0/24").overlaps(parse_range("10.0.0.255-10.0.1.5"))
    assert not parse_range("10.0.0.0/24").overlaps(parse_range("10.0.1.0/24"))
    assert not parse_range("0.0.0.0/32").overlaps(parse_range("::/128"))


def test_parse_ip_refuses_zone_scoped_ipv6() -> None:
    assert str(parse_ip(" 2001:DB8::1 ")) == "2001:db8::1"
    with pytest.raises(ValueError, match="zone-scoped"):
        parse_ip("fe80::1%eth0")
