"""The CRI subset in protos/runtime/v1/api.proto is wire-compatible with upstream CRI v1.

The expected values come from tests/data/cri/cri-api-v1-subset-fields.json, a descriptor dump of
kubernetes/cri-api pkg/apis/runtime/v1/api.proto (see tests/data/PROVENANCE.md). On the wire only
the package, service and method names, field numbers, wire types and enum numbers matter. Field
names are compared too, so that JSON output matches the runtimes' own tools.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import descriptor_pb2

from simulator._proto.runtime.v1 import api_pb2

UPSTREAM = json.loads((Path(__file__).parent.parent / "data" / "cri" / "cri-api-v1-subset-fields.json").read_text())

# Upstream fields this subset leaves out on purpose. proto3 parsers skip unknown fields, so
# omitting them is safe; any other missing field is a mistake.
OMITTED_FIELDS: dict[str, set[str]] = {
    "Mount": {"uidMappings", "gidMappings"},
    "ContainerStatus": {"resources", "user", "stop_signal"},
    "PodSandboxStats": {"windows"},
}

EXPECTED_METHODS = {
    "RuntimeService": {
        "Version",
        "Status",
        "ListPodSandbox",
        "ListContainers",
        "ContainerStatus",
        "ListContainerStats",
        "ListPodSandboxStats",
    },
    "ImageService": {"ListImages", "ImageStatus", "ImageFsInfo"},
}

FieldType = descriptor_pb2.FieldDescriptorProto


def our_file() -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto()
    api_pb2.DESCRIPTOR.CopyToProto(proto)
    return proto


def describe_fields(message: descriptor_pb2.DescriptorProto) -> dict[str, dict[str, Any]]:
    described = {}
    for field in message.field:
        type_name = FieldType.Type.Name(field.type).removeprefix("TYPE_").lower()
        if field.type_name:
            type_name = field.type_name.removeprefix(".runtime.v1.")
        described[field.name] = {
            "number": field.number,
            "type": type_name,
            "repeated": field.label == FieldType.LABEL_REPEATED,
        }
    return described


OUR_FILE = our_file()
OUR_MESSAGES = {message.name: message for message in OUR_FILE.message_type}


def test_package_is_runtime_v1() -> None:
    assert OUR_FILE.package == "runtime.v1"
    assert OUR_FILE.syntax == "proto3"


def test_services_declare_exactly_the_subset() -> None:
    declared = {service.name: {method.name for method in service.method} for service in OUR_FILE.service}
    assert declared == EXPECTED_METHODS


@pytest.mark.parametrize(
    ("service", "method"),
    [(service, method) for service, methods in sorted(EXPECTED_METHODS.items()) for method in sorted(methods)],
)
def test_method_signature_matches_upstream(service: str, method: str) -> None:
    expected = UPSTREAM["services"][service][method]
    ours = next(m for s in OUR_FILE.service if s.name == service for m in s.method if m.name == method)
    assert ours.input_type.removeprefix(".runtime.v1.") == expected["input"]
    assert ours.output_type.removeprefix(".runtime.v1.") == expected["output"]
    assert ours.server_streaming == expected["server_streaming"]
    assert not ours.client_streaming


@pytest.mark.parametrize("message_name", sorted(OUR_MESSAGES))
def test_message_fields_match_upstream(message_name: str) -> None:
    assert message_name in UPSTREAM["messages"], f"{message_name} is not an upstream CRI v1 message"
    upstream = {
        name: field for name, field in UPSTREAM["messages"][message_name].items() if not name.startswith("__")
    }
    ours = describe_fields(OUR_MESSAGES[message_name])

    for name, field in ours.items():
        assert name in upstream, f"{message_name}.{name} does not exist upstream"
        assert field == upstream[name], f"{message_name}.{name} differs from upstream"

    missing = set(upstream) - set(ours)
    assert missing == OMITTED_FIELDS.get(message_name, set())


@pytest.mark.parametrize("message_name", sorted(OUR_MESSAGES))
def test_map_entries_match_upstream(message_name: str) -> None:
    for nested in OUR_MESSAGES[message_name].nested_type:
        assert nested.options.map_entry
        expected = UPSTREAM["messages"][message_name]["__map_entry__" + nested.name]
        assert describe_fields(nested) == expected


def test_enum_numbers_match_upstream() -> None:
    ours = {enum.name: {value.name: value.number for value in enum.value} for enum in OUR_FILE.enum_type}
    assert ours == UPSTREAM["enums"]


def test_wrappers_are_cri_own_messages() -> None:
    """CRI's UInt64Value is runtime.v1.UInt64Value, not google.protobuf.UInt64Value."""
    usage = OUR_MESSAGES["FilesystemUsage"]
    used_bytes = next(field for field in usage.field if field.name == "used_bytes")
    assert used_bytes.type_name == ".runtime.v1.UInt64Value"
    assert not OUR_FILE.dependency
