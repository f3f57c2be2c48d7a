"""The patch semantics controllers depend on: list merging, directives, RFC edge cases."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from ccm.sandbox.errors import APIError
from ccm.sandbox.patch import (
    FIELD_STRATEGIES,
    PatchError,
    apply_json_patch,
    apply_merge_patch,
    apply_patch,
    apply_strategic_merge_patch,
    to_api_error,
)

# ------------------------------------------------------------------ RFC 7386


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [
        # The full example table of RFC 7386 appendix A.
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "b"}, ["c"], ["c"]),
        ({"a": "foo"}, None, None),
        ({"a": "foo"}, "bar", "bar"),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_merge_patch_rfc7386_examples(target: Any, patch: Any, expected: Any) -> None:
    assert apply_merge_patch(target, patch) == expected


def test_merge_patch_replaces_lists_wholesale() -> None:
    target = {"metadata": {"finalizers": ["a", "b"]}}
    assert apply_merge_patch(target, {"metadata": {"finalizers": ["c"]}}) == {
        "metadata": {"finalizers": ["c"]}
    }


def test_merge_patch_does_not_mutate_inputs() -> None:
    target: dict[str, Any] = {"a": {"b": [1, 2]}, "c": 1}
    patch: dict[str, Any] = {"a": {"b": [3], "x": {"y": 1}}, "c": None}
    target_before, patch_before = copy.deepcopy(target), copy.deepcopy(patch)
    result = apply_merge_patch(target, patch)
    assert target == target_before
    assert patch == patch_before
    result["a"]["x"]["y"] = 2
    assert patch["a"]["x"]["y"] == 1


# ------------------------------------------------------------------ RFC 6902


def test_json_patch_rfc6902_appendix_examples() -> None:
    assert apply_json_patch({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux"}]) == {
        "foo": "bar",
        "baz": "qux",
    }
    assert apply_json_patch(
        {"foo": ["bar", "baz"]}, [{"op": "add", "path": "/foo/1", "value": "qux"}]
    ) == {"foo": ["bar", "qux", "baz"]}
    assert apply_json_patch({"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}]) == {
        "foo": "bar"
    }
    assert apply_json_patch(
        {"foo": ["bar", "qux", "baz"]}, [{"op": "remove", "path": "/foo/1"}]
    ) == {"foo": ["bar", "baz"]}
    assert apply_json_patch(
        {"baz": "qux", "foo": "bar"}, [{"op": "replace", "path": "/baz", "value": "boo"}]
    ) == {"baz": "boo", "foo": "bar"}
    assert apply_json_patch(
        {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
        [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
    ) == {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}
    assert apply_json_patch(
        {"foo": ["all", "grass", "cows", "eat"]},
        [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
    ) == {"foo": ["all", "cows", "eat", "grass"]}
    assert apply_json_patch(
        {"foo": "bar"}, [{"op": "add", "path": "/child", "value": {"grandchild": {}}}]
    ) == {"foo": "bar", "child": {"grandchild": {}}}
    append = [{"op": "add", "path": "/foo/-", "value": ["abc"]}]
    assert apply_json_patch({"foo": ["bar"]}, append) == {"foo": ["bar", ["abc"]]}


def test_json_patch_test_success_and_failure() -> None:
    doc = {"baz": "qux", "foo": ["a", 2, "c"]}
    ops = [
        {"op": "test", "path": "/baz", "value": "qux"},
        {"op": "test", "path": "/foo/1", "value": 2},
    ]
    assert apply_json_patch(doc, ops) == doc
    with pytest.raises(PatchError) as err:
        apply_json_patch({"baz": "qux"}, [{"op": "test", "path": "/baz", "value": "bar"}])
    assert err.value.code == 422


def test_json_patch_test_distinguishes_booleans_from_numbers() -> None:
    assert apply_json_patch({"a": 1}, [{"op": "test", "path": "/a", "value": 1.0}]) == {"a": 1}
    with pytest.raises(PatchError):
        apply_json_patch({"a": 1}, [{"op": "test", "path": "/a", "value": True}])
    with pytest.raises(PatchError):
        apply_json_patch({"a": [0]}, [{"op": "test", "path": "/a", "value": [False]}])
    with pytest.raises(PatchError):
        apply_json_patch({"a": "1"}, [{"op": "test", "path": "/a", "value": 1}])


def test_json_patch_test_null_value_is_present() -> None:
    assert apply_json_patch({"a": None}, [{"op": "test", "path": "/a", "value": None}]) == {
        "a": None
    }
    with pytest.raises(PatchError):
        apply_json_patch({}, [{"op": "test", "path": "/a", "value": None}])


def test_json_patch_pointer_escaping() -> None:
    doc = {"a/b": 1, "m~n": 2, "~1": 3}
    ops = [
        {"op": "replace", "path": "/a~1b", "value": 10},
        {"op": "replace", "path": "/m~0n", "value": 20},
        {"op": "replace", "path": "/~01", "value": 30},
        {"op": "add", "path": "/metadata", "value": {"annotations": {}}},
        {"op": "add", "path": "/metadata/annotations/example.com~1key", "value": "v"},
    ]
    assert apply_json_patch(doc, ops) == {
        "a/b": 10,
        "m~n": 20,
        "~1": 30,
        "metadata": {"annotations": {"example.com/key": "v"}},
    }


def test_json_patch_empty_key_and_root_path() -> None:
    assert apply_json_patch({"": 1}, [{"op": "replace", "path": "/", "value": 2}]) == {"": 2}
    assert apply_json_patch({"a": 1}, [{"op": "replace", "path": "", "value": {"b": 2}}]) == {
        "b": 2
    }
    assert apply_json_patch({"a": 1}, [{"op": "add", "path": "", "value": [1]}]) == [1]


@pytest.mark.parametrize(
    "op",
    [
        {"op": "add", "path": "/a/3", "value": 9},  # past the end (len is 2)
        {"op": "add", "path": "/a/-1", "value": 9},
        {"op": "add", "path": "/a/01", "value": 9},
        {"op": "add", "path": "/a/x", "value": 9},
        {"op": "remove", "path": "/a/2"},
        {"op": "remove", "path": "/a/-"},
        {"op": "replace", "path": "/a/2", "value": 9},
        {"op": "replace", "path": "/missing", "value": 9},
        {"op": "remove", "path": "/missing"},
        {"op": "add", "path": "/missing/child", "value": 9},
        {"op": "add", "path": "/s/child", "value": 9},
        {"op": "move", "from": "/missing", "path": "/b"},
        {"op": "copy", "from": "/a/5", "path": "/b"},
        {"op": "move", "from": "/o", "path": "/o/inner"},
        {"op": "remove", "path": ""},
    ],
)
def test_json_patch_path_errors_are_422(op: dict[str, Any]) -> None:
    with pytest.raises(PatchError) as err:
        apply_json_patch({"a": [1, 2], "s": "str", "o": {}}, [op])
    assert err.value.code == 422


def test_json_patch_array_index_bounds() -> None:
    doc = {"a": [1, 2]}
    assert apply_json_patch(doc, [{"op": "add", "path": "/a/2", "value": 3}]) == {"a": [1, 2, 3]}
    assert apply_json_patch(doc, [{"op": "add", "path": "/a/0", "value": 0}]) == {"a": [0, 1, 2]}
    assert apply_json_patch(doc, [{"op": "replace", "path": "/a/1", "value": 5}]) == {"a": [1, 5]}
    assert apply_json_patch(doc, [{"op": "add", "path": "/a/-", "value": 3}]) == {"a": [1, 2, 3]}


@pytest.mark.parametrize(
    "ops",
    [
        {"op": "add", "path": "/a", "value": 1},  # not a list
        "nope",
        [{"op": "frobnicate", "path": "/a"}],
        [{"path": "/a", "value": 1}],
        [{"op": "add", "value": 1}],
        [{"op": "add", "path": "/a"}],
        [{"op": "replace", "path": "/a"}],
        [{"op": "test", "path": "/a"}],
        [{"op": "move", "path": "/a"}],
        [{"op": "add", "path": "a", "value": 1}],
        [{"op": "add", "path": "/a~2", "value": 1}],
        [{"op": "add", "path": 7, "value": 1}],
        ["add"],
    ],
)
def test_json_patch_malformed_is_400(ops: Any) -> None:
    with pytest.raises(PatchError) as err:
        apply_json_patch({"a": 0}, ops)
    assert err.value.code == 400


def test_json_patch_copy_is_deep_and_move_to_self_is_noop() -> None:
    result = apply_json_patch(
        {"a": {"x": [1]}},
        [
            {"op": "copy", "from": "/a", "path": "/b"},
            {"op": "add", "path": "/b/x/-", "value": 2},
            {"op": "move", "from": "/a", "path": "/a"},
        ],
    )
    assert result == {"a": {"x": [1]}, "b": {"x": [1, 2]}}


def test_json_patch_is_atomic_and_does_not_mutate() -> None:
    doc = {"a": [1, 2], "b": {"c": 1}}
    before = copy.deepcopy(doc)
    ops = [
        {"op": "add", "path": "/a/-", "value": 3},
        {"op": "remove", "path": "/b/c"},
        {"op": "test", "path": "/b", "value": {"nope": 1}},
    ]
    ops_before = copy.deepcopy(ops)
    with pytest.raises(PatchError):
        apply_json_patch(doc, ops)
    assert doc == before
    assert ops == ops_before
    value = {"deep": [1]}
    result = apply_json_patch(doc, [{"op": "add", "path": "/v", "value": value}])
    result["v"]["deep"].append(2)
    assert value == {"deep": [1]}
    assert doc == before


# ------------------------------------------------------------ strategic merge


def smp(target: dict[str, Any], patch: dict[str, Any], kind: str = "Service") -> dict[str, Any]:
    target_before, patch_before = copy.deepcopy(target), copy.deepcopy(patch)
    result = apply_strategic_merge_patch(target, patch, kind)
    assert target == target_before, "target was mutated"
    assert patch == patch_before, "patch was mutated"
    return result


def test_smp_table_shape() -> None:
    assert FIELD_STRATEGIES["*"]["metadata.finalizers"] == ("merge-primitive", None)
    assert FIELD_STRATEGIES["*"]["metadata.ownerReferences"] == ("merge", "uid")
    assert FIELD_STRATEGIES["Service"]["spec.ports"] == ("merge", "port")
    assert "spec.externalIPs" not in FIELD_STRATEGIES["Service"]
    assert FIELD_STRATEGIES["Node"]["spec.taints"] == ("merge", "key")


def test_smp_finalizers_union_keeps_order() -> None:
    target = {"metadata": {"finalizers": ["a", "b"]}}
    result = smp(target, {"metadata": {"finalizers": ["c", "a"]}}, "ConfigMap")
    assert result == {"metadata": {"finalizers": ["a", "b", "c"]}}


def test_smp_owner_references_merge_by_uid() -> None:
    target = {"metadata": {"ownerReferences": [{"uid": "1", "name": "x"}, {"uid": "2"}]}}
    patch = {"metadata": {"ownerReferences": [{"uid": "2", "name": "y"}, {"uid": "3"}]}}
    assert smp(target, patch)["metadata"]["ownerReferences"] == [
        {"uid": "1", "name": "x"},
        {"uid": "2", "name": "y"},
        {"uid": "3"},
    ]


def test_smp_service_ports_merge_by_port() -> None:
    target = {"spec": {"ports": [{"port": 80, "name": "http"}, {"port": 443, "name": "https"}]}}
    patch = {"spec": {"ports": [{"port": 443, "nodePort": 30443}, {"port": 8080}]}}
    assert smp(target, patch)["spec"]["ports"] == [
        {"port": 80, "name": "http"},
        {"port": 443, "name": "https", "nodePort": 30443},
        {"port": 8080},
    ]


def test_smp_unlisted_lists_are_replaced() -> None:
    target = {
        "spec": {"externalIPs": ["1.1.1.1"]},
        "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}, {"ip": "5.6.7.8"}]}},
    }
    patch = {
        "spec": {"externalIPs": ["2.2.2.2"]},
        "status": {"loadBalancer": {"ingress": [{"ip": "9.9.9.9"}]}},
    }
    assert smp(target, patch) == {
        "spec": {"externalIPs": ["2.2.2.2"]},
        "status": {"loadBalancer": {"ingress": [{"ip": "9.9.9.9"}]}},
    }


def test_smp_endpoints_subsets_replaced() -> None:
    target = {"subsets": [{"addresses": [{"ip": "10.0.0.1"}]}]}
    patch = {"subsets": [{"addresses": [{"ip": "10.0.0.2"}]}]}
    assert smp(target, patch, "Endpoints") == patch


def test_smp_node_conditions_and_addresses() -> None:
    target = {
        "status": {
            "conditions": [
                {"type": "Ready", "status": "False"},
                {"type": "MemoryPressure", "status": "False"},
            ],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
        }
    }
    patch = {
        "status": {
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
            "addresses": [
                {"type": "ExternalIP", "address": "1.2.3.4"},
                {"type": "InternalIP", "address": "10.0.0.2"},
            ],
        }
    }
    result = smp(target, patch, "Node")
    assert result["status"]["conditions"] == [
        {"type": "Ready", "status": "True", "reason": "KubeletReady"},
        {"type": "MemoryPressure", "status": "False"},
    ]
    assert result["status"]["addresses"] == [
        {"type": "InternalIP", "address": "10.0.0.2"},
        {"type": "ExternalIP", "address": "1.2.3.4"},
    ]


def test_smp_strategies_are_per_kind() -> None:
    target = {"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]}}
    patch = {"status": {"addresses": [{"type": "ExternalIP", "address": "1.2.3.4"}]}}
    # Only Node declares status.addresses as a merge list.
    assert smp(target, patch, "Pod") == patch
    assert len(smp(target, patch, "Node")["status"]["addresses"]) == 2


def test_smp_node_taints_and_pod_cidrs() -> None:
    target = {
        "spec": {
            "podCIDRs": ["10.0.0.0/24"],
            "taints": [{"key": "node.cloudprovider.kubernetes.io/uninitialized", "value": "true"}],
        }
    }
    patch = {
        "spec": {
            "podCIDRs": ["fd00::/64", "10.0.0.0/24"],
            "taints": [
                {"key": "node.cloudprovider.kubernetes.io/uninitialized", "$patch": "delete"},
                {"key": "example.com/t", "effect": "NoSchedule"},
            ],
        }
    }
    assert smp(target, patch, "Node") == {
        "spec": {
            "podCIDRs": ["10.0.0.0/24", "fd00::/64"],
            "taints": [{"key": "example.com/t", "effect": "NoSchedule"}],
        }
    }


def test_smp_null_deletes_keys() -> None:
    target = {"metadata": {"labels": {"a": "1", "b": "2"}, "annotations": {"x": "y"}}}
    patch = {"metadata": {"labels": {"a": None}, "annotations": None, "missing": None}}
    assert smp(target, patch) == {"metadata": {"labels": {"b": "2"}}}


def test_smp_map_patch_replace() -> None:
    target = {"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"x": 1}}
    patch = {"metadata": {"labels": {"$patch": "replace", "c": "3"}}}
    assert smp(target, patch) == {"metadata": {"labels": {"c": "3"}}, "spec": {"x": 1}}


def test_smp_map_patch_delete() -> None:
    target = {"metadata": {"labels": {"a": "1"}, "name": "n"}}
    patch = {"metadata": {"labels": {"$patch": "delete"}}}
    assert smp(target, patch) == {"metadata": {"name": "n"}}
    assert smp(target, {"$patch": "delete"}) == {}


def test_smp_root_patch_replace() -> None:
    target = {"a": 1, "b": {"c": 2}}
    assert smp(target, {"$patch": "replace", "b": {"d": 3}}) == {"b": {"d": 3}}


def test_smp_list_element_delete_by_merge_key() -> None:
    target = {"spec": {"ports": [{"port": 80}, {"port": 443}]}}
    patch = {"spec": {"ports": [{"port": 80, "$patch": "delete"}]}}
    assert smp(target, patch) == {"spec": {"ports": [{"port": 443}]}}


def test_smp_list_patch_replace_element() -> None:
    target = {"spec": {"ports": [{"port": 80, "name": "a"}, {"port": 443}]}}
    patch = {"spec": {"ports": [{"$patch": "replace"}, {"port": 8080}]}}
    assert smp(target, patch) == {"spec": {"ports": [{"port": 8080}]}}
    finalizers = {"metadata": {"finalizers": ["a", "b"]}}
    assert smp(finalizers, {"metadata": {"finalizers": ["c", {"$patch": "replace"}]}}) == {
        "metadata": {"finalizers": ["c"]}
    }


def test_smp_retain_keys() -> None:
    target = {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    assert smp(target, patch) == {"spec": {"strategy": {"type": "Recreate"}}}


def test_smp_retain_keys_rejects_patch_key_outside_list() -> None:
    with pytest.raises(PatchError):
        smp({"a": {}}, {"a": {"$retainKeys": ["x"], "y": 1}})
    with pytest.raises(PatchError) as err:
        smp({"a": {}}, {"a": {"$retainKeys": "x"}})
    assert err.value.code == 400


def test_smp_delete_from_primitive_list() -> None:
    target = {"metadata": {"finalizers": ["a", "b", "c"]}}
    patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b", "zz"]}}
    assert smp(target, patch) == {"metadata": {"finalizers": ["a", "c"]}}
    # Deletion and addition in one patch.
    patch2 = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"], "finalizers": ["d"]}}
    assert smp(target, patch2) == {"metadata": {"finalizers": ["b", "c", "d"]}}


def test_smp_set_element_order_primitive() -> None:
    target = {"metadata": {"finalizers": ["a", "b", "c"]}}
    patch = {"metadata": {"$setElementOrder/finalizers": ["c", "d", "a"], "finalizers": ["d"]}}
    # "b" is unknown to the client, so it keeps its place after the ordered ones.
    assert smp(target, patch) == {"metadata": {"finalizers": ["c", "d", "a", "b"]}}


def test_smp_set_element_order_objects() -> None:
    target = {"spec": {"ports": [{"port": 80}, {"port": 443}, {"port": 53}]}}
    patch = {
        "spec": {
            "$setElementOrder/ports": [{"port": 8080}, {"port": 443}, {"port": 80}],
            "ports": [{"port": 8080, "name": "alt"}],
        }
    }
    assert smp(target, patch)["spec"]["ports"] == [
        {"port": 8080, "name": "alt"},
        {"port": 443},
        {"port": 80},
        {"port": 53},
    ]
    with pytest.raises(PatchError) as err:
        smp(target, {"spec": {"$setElementOrder/ports": [{"name": "x"}]}})
    assert err.value.code == 400


def test_smp_missing_merge_key_names_field() -> None:
    with pytest.raises(PatchError, match=r"spec\.ports"):
        smp({"spec": {"ports": [{"port": 80}]}}, {"spec": {"ports": [{"name": "http"}]}})
    with pytest.raises(PatchError, match=r"metadata\.ownerReferences"):
        smp({}, {"metadata": {"ownerReferences": [{"$patch": "delete"}]}})


def test_smp_nested_path_of_list_within_merged_element() -> None:
    strategies = FIELD_STRATEGIES["Pod"]
    assert strategies["spec.containers.env"] == ("merge", "name")
    target = {
        "spec": {"containers": [{"name": "c", "env": [{"name": "A", "value": "1"}]}]},
    }
    patch = {
        "spec": {"containers": [{"name": "c", "env": [{"name": "B", "value": "2"}]}]},
    }
    assert smp(target, patch, "Pod")["spec"]["containers"][0]["env"] == [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "2"},
    ]


def test_smp_directives_never_leak_into_result() -> None:
    patch = {
        "metadata": {
            "labels": {"$patch": "replace", "a": "1"},
            "ownerReferences": [{"uid": "9", "extra": {"$patch": "replace", "k": "v"}}],
            "$setElementOrder/finalizers": ["x"],
            "finalizers": ["x"],
            "new": {"inner": {"$retainKeys": ["z"], "z": 1}, "gone": None},
        },
        "spec": {"externalIPs": [{"$patch": "replace"}]},
    }
    result = smp({}, patch)
    text = json.dumps(result)
    assert "$" not in text
    assert result == {
        "metadata": {
            "labels": {"a": "1"},
            "ownerReferences": [{"uid": "9", "extra": {"k": "v"}}],
            "finalizers": ["x"],
            "new": {"inner": {"z": 1}},
        },
        "spec": {"externalIPs": []},
    }


def test_smp_unknown_dollar_keys_are_ordinary_fields() -> None:
    # CRD schemas carry keys like "$ref"; only the real directives are special.
    assert smp({}, {"spec": {"$ref": "#/x"}}, "CustomResourceDefinition") == {
        "spec": {"$ref": "#/x"}
    }


def test_smp_unknown_patch_directive_is_400() -> None:
    with pytest.raises(PatchError) as err:
        smp({"a": {}}, {"a": {"$patch": "explode"}})
    assert err.value.code == 400


def test_smp_result_is_independent_of_inputs() -> None:
    target: dict[str, Any] = {"metadata": {"labels": {"a": "1"}}, "spec": {"ports": [{"port": 80}]}}
    patch: dict[str, Any] = {"spec": {"ports": [{"port": 81, "x": {"y": [1]}}]}}
    result = smp(target, patch)
    result["metadata"]["labels"]["a"] = "changed"
    result["spec"]["ports"][1]["x"]["y"].append(2)
    assert target["metadata"]["labels"]["a"] == "1"
    assert patch["spec"]["ports"][0]["x"]["y"] == [1]


def test_smp_non_dict_patch_is_400() -> None:
    with pytest.raises(PatchError) as err:
        apply_strategic_merge_patch({}, ["x"], "Service")  # type: ignore[arg-type]
    assert err.value.code == 400


# ------------------------------------------------------------------ dispatch


def test_apply_patch_dispatches_on_content_type() -> None:
    target = {"metadata": {"finalizers": ["a"]}}
    body = json.dumps({"metadata": {"finalizers": ["b"]}}).encode()
    merged = apply_patch("application/merge-patch+json", target, body, "Service")
    assert merged == {"metadata": {"finalizers": ["b"]}}
    strategic = apply_patch(
        "application/strategic-merge-patch+json; charset=utf-8", target, body, "Service"
    )
    assert strategic == {"metadata": {"finalizers": ["a", "b"]}}
    ops = json.dumps([{"op": "add", "path": "/metadata/finalizers/-", "value": "c"}]).encode()
    assert apply_patch("Application/JSON-Patch+JSON", target, ops, "Service") == {
        "metadata": {"finalizers": ["a", "c"]}
    }
    assert target == {"metadata": {"finalizers": ["a"]}}


@pytest.mark.parametrize(
    "content_type",
    ["application/apply-patch+yaml", "application/json", "text/plain", ""],
)
def test_apply_patch_unsupported_media_type(content_type: str) -> None:
    with pytest.raises(APIError) as err:
        apply_patch(content_type, {}, b"{}", "Service")
    assert err.value.code == 415
    assert err.value.reason == "UnsupportedMediaType"
    assert "application/strategic-merge-patch+json" in err.value.message


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/merge-patch+json", b"{not json"),
        ("application/strategic-merge-patch+json", b"\xff\xfe"),
        ("application/json-patch+json", b""),
        ("application/merge-patch+json", b'{"a": NaN}'),
        ("application/merge-patch+json", b"[1, 2]"),
        ("application/strategic-merge-patch+json", b'"str"'),
        ("application/json-patch+json", b'{"op": "add"}'),
    ],
)
def test_apply_patch_bad_bodies_are_400(content_type: str, body: bytes) -> None:
    with pytest.raises(PatchError) as err:
        apply_patch(content_type, {"a": 1}, body, "Service")
    assert err.value.code == 400
    api = to_api_error(err.value)
    assert (api.code, api.reason) == (400, "BadRequest")


def test_apply_patch_json_patch_must_leave_an_object() -> None:
    with pytest.raises(PatchError) as err:
        apply_patch(
            "application/json-patch+json",
            {"a": 1},
            b'[{"op": "replace", "path": "", "value": [1]}]',
            "Service",
        )
    assert err.value.code == 422


def test_to_api_error_maps_422_to_invalid() -> None:
    api = to_api_error(PatchError("test failed"))
    assert (api.code, api.reason, api.message) == (422, "Invalid", "test failed")
    assert api.status()["reason"] == "Invalid"
