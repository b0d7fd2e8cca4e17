"""JSON merge patches (RFC 7386), JSON Pointers (RFC 6901) and request field checks."""

from __future__ import annotations

import pytest

from simulator.api import validation as v
from simulator.documents import merge_patch
from simulator.errors import InputError

# The examples of RFC 7386 appendix A, restated as (target, patch, result).
RFC7386_CASES = [
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
]


@pytest.mark.parametrize(("target", "patch", "expected"), RFC7386_CASES)
def test_merge_patch_rfc7386(target: object, patch: object, expected: object) -> None:
    assert merge_patch(target, patch) == expected


def test_merge_patch_leaves_target_unchanged() -> None:
    target = {"evictionHard": {"memory.available": "100Mi"}}
    merge_patch(target, {"evictionHard": {"memory.available": "1Gi"}})
    assert target == {"evictionHard": {"memory.available": "100Mi"}}


@pytest.mark.parametrize(
    ("pointer", "tokens"),
    [("", []), ("/evictionHard/imagefs.available", ["evictionHard", "imagefs.available"]), ("/a~1b/c~0d", ["a/b", "c~d"])],
)
def test_parse_json_pointer(pointer: str, tokens: list[str]) -> None:
    assert v.parse_json_pointer(pointer) == tokens


def test_parse_json_pointer_needs_slash() -> None:
    with pytest.raises(InputError, match="must start with '/'") as raised:
        v.parse_json_pointer("evictionHard")
    assert raised.value.field == "pointer"


def test_set_by_pointer_creates_objects() -> None:
    document = {"kind": "KubeletConfiguration"}
    result = v.set_by_pointer(document, ["evictionHard", "imagefs.available"], "20%", field="values[0]")
    assert result == {"kind": "KubeletConfiguration", "evictionHard": {"imagefs.available": "20%"}}
    assert document == {"kind": "KubeletConfiguration"}


def test_set_by_pointer_rejects_scalar_parent() -> None:
    with pytest.raises(InputError, match="not an object"):
        v.set_by_pointer({"maxPods": 110}, ["maxPods", "x"], 1, field="values[0]")


def test_unknown_kubelet_config_field() -> None:
    with pytest.raises(InputError) as raised:
        v.check_kubelet_config_patch({"evictionHrd": {}}, field="policy.kubelet_config_patch_json")
    assert "evictionHrd" in str(raised.value)
    assert raised.value.field == "policy.kubelet_config_patch_json/evictionHrd"


def test_signal_map_must_be_object() -> None:
    with pytest.raises(InputError, match="expected an object"):
        v.check_kubelet_config_patch({"evictionHard": "imagefs.available<10%"}, field="patch")


@pytest.mark.parametrize("version", ["99.1", "1.999", "banana", "2"])
def test_absurd_versions_rejected(version: str) -> None:
    with pytest.raises(InputError) as raised:
        v.check_kubelet_version(version, field="policy.kubelet_version")
    assert str(raised.value).startswith("policy.kubelet_version: ")
    assert version in str(raised.value)


def test_range_message_names_field_and_value() -> None:
    with pytest.raises(InputError) as raised:
        v.check_range(-5, field="image_pulls[0].size_bytes", minimum=0, maximum=10, unit="bytes")
    assert str(raised.value) == "image_pulls[0].size_bytes: -5 bytes is out of range; expected 0 to 10 bytes"


def test_sweep_value_parsing() -> None:
    assert v.parse_sweep_value('"15%"') == "15%"
    assert v.parse_sweep_value("85") == 85
    assert v.parse_sweep_value("15%") == "15%"
