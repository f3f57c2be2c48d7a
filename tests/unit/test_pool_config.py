"""The pools YAML: what it accepts, how files merge, and how errors point at the value."""

from __future__ import annotations

import ipaddress

import pytest

from providers.pool.config import ConfigError, load_config, parse_config

EXAMPLE = """
pools:
  - name: public
    addresses: ["192.0.2.0/28", "198.51.100.10-198.51.100.20", "2001:db8::/120"]
    namespaces: [prod]
    autoAssign: true
    avoidBuggyIPs: false
  - name: internal
    addresses: ["10.0.0.0/24"]
    autoAssign: false
    avoidNetworkAndBroadcast: true
"""


def _error(text: str) -> str:
    with pytest.raises(ConfigError) as err:
        parse_config(text)
    return str(err.value)


def test_example_parses_with_defaults() -> None:
    public, internal = parse_config(EXAMPLE)
    assert public.name == "public"
    assert [r.text for r in public.ranges] == [
        "192.0.2.0/28",
        "198.51.100.10-198.51.100.20",
        "2001:db8::/120",
    ]
    assert public.namespaces == ("prod",)
    assert (public.auto_assign, public.avoid_buggy_ips) == (True, False)
    assert public.families == {"IPv4", "IPv6"}
    assert public.size() == 16 + 11 + 256
    assert internal.namespaces == () and internal.serves("anything")
    assert internal.auto_assign is False and internal.avoid_network_and_broadcast is True
    assert not internal.contains(ipaddress.IPv4Address("10.0.0.0"))
    assert str(next(internal.addresses("IPv4"))) == "10.0.0.1"


def test_bad_address_error_names_its_path() -> None:
    text = """
pools:
  - {name: a, addresses: ["10.1.0.0/24"]}
  - {name: b, addresses: ["10.0.0.0/33"]}
"""
    err = _error(text)
    assert err.startswith('pools[1].addresses[0]: "10.0.0.0/33" is not an IP, CIDR or a-b range')


def test_config_error_is_a_value_error_with_path_and_problem() -> None:
    with pytest.raises(ValueError) as err:
        parse_config("pools: [{name: a, addresses: [nope]}]")
    assert isinstance(err.value, ConfigError)
    assert err.value.path == "pools[0].addresses[0]"
    assert "nope" in err.value.problem


def test_duplicate_pool_names_are_rejected() -> None:
    text = "pools: [{name: a, addresses: [10.0.0.0/24]}, {name: a, addresses: [10.0.1.0/24]}]"
    err = _error(text)
    assert err.startswith("pools[1].name:") and 'duplicate pool name "a"' in err


def test_overlapping_pools_are_rejected() -> None:
    text = """
pools:
  - {name: a, addresses: ["10.0.0.0/24"]}
  - {name: b, addresses: ["10.0.0.200-10.0.1.5"]}
"""
    err = _error(text)
    assert err.startswith("pools[1].addresses[0]:")
    assert 'overlaps "10.0.0.0/24" of pool "a"' in err


def test_overlap_inside_one_pool_is_rejected() -> None:
    assert "twice" in _error('pools: [{name: a, addresses: ["10.0.0.0/24", "10.0.0.7"]}]')


def test_same_numbers_in_different_families_do_not_overlap() -> None:
    assert len(parse_config('pools: [{name: a, addresses: ["0.0.0.0/30", "::/126"]}]')) == 1


def test_unknown_pool_key_lists_the_accepted_keys() -> None:
    err = _error("pools: [{name: a, addresses: [10.0.0.0/24], autoassign: true}]")
    assert err.startswith("pools[0]: unknown key autoassign")
    assert "accepted: name, addresses, namespaces, autoAssign, avoidBuggyIPs" in err


def test_unknown_top_level_key_is_rejected() -> None:
    assert "unknown key pool " in _error("pool: []")


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("pools: [{addresses: [10.0.0.0/24]}]", "pools[0].name"),
        ("pools: [{name: a}]", "pools[0].addresses"),
        ("pools: [{name: a, addresses: []}]", "pools[0].addresses"),
        ("pools: [{name: a, addresses: [10.0.0.0/24], autoAssign: 'yes'}]", "pools[0].autoAssign"),
        ("pools: [{name: a, addresses: [10.0.0.0/24], namespaces: prod}]", "pools[0].namespaces"),
        ("pools: [42]", "pools[0]"),
        ("pools: {name: a}", "pools"),
    ],
)
def test_missing_or_mistyped_values_are_rejected(text: str, path: str) -> None:
    assert _error(text).startswith(f"{path}: ")


def test_invalid_yaml_is_a_config_error() -> None:
    assert "not valid YAML" in _error("pools: [")


def test_empty_text_and_empty_mapping_mean_no_pools() -> None:
    assert parse_config("") == []
    assert parse_config("pools:") == []
    assert load_config({}) == []


def test_load_config_merges_yaml_keys_in_name_order_and_ignores_others() -> None:
    files = {
        "b.yml": "pools: [{name: second, addresses: [10.0.1.0/24]}]",
        "a.yaml": "pools: [{name: first, addresses: [10.0.0.0/24]}]",
        "README": "not yaml: [",
        "config": "pools: [{name: third, addresses: [10.0.2.0/24]}]",
    }
    assert [p.name for p in load_config(files)] == ["first", "second", "third"]


def test_load_config_checks_across_files_and_names_the_file() -> None:
    files = {
        "a.yaml": "pools: [{name: x, addresses: [10.0.0.0/24]}]",
        "b.yaml": "pools: [{name: x, addresses: [10.0.1.0/24]}]",
    }
    with pytest.raises(ConfigError) as err:
        load_config(files)
    assert str(err.value).startswith("b.yaml: pools[0].name: ")
    assert "a.yaml: pools[0]" in str(err.value)


def test_load_config_prefixes_errors_inside_a_file() -> None:
    with pytest.raises(ConfigError) as err:
        load_config({"pools.yaml": "pools: [{name: a, addresses: [10.0.0.0/33]}]"})
    assert str(err.value).startswith("pools.yaml: pools[0].addresses[0]: ")
