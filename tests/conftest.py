"""Top-level fixtures: a real containerd node for integration tests.

``containerd_node`` (session scope) starts one private containerd whose root is a small
loop-mounted ext4 (the image filesystem) next to a second one used as the kubelet root dir
(the node filesystem), with the busybox pause image imported. ``containerd_node_factory``
(function scope) starts extra nodes for tests that fill a filesystem and must not disturb
the shared one. Both skip only when the machine cannot run containerd (not root, or a
binary is missing). Any other start failure is a test error that shows containerd's log tail.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

from harness.containerd import ContainerdNode, missing_prerequisites

NODE_FIXTURES = ("containerd_node", "containerd_node_factory")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses a containerd node with the ``containerd`` marker."""
    for item in items:
        if any(name in getattr(item, "fixturenames", ()) for name in NODE_FIXTURES):
            item.add_marker(pytest.mark.containerd)


def _skip_unless_containerd_can_run() -> None:
    reasons = missing_prerequisites()
    if reasons:
        pytest.skip("real containerd unavailable: " + "; ".join(reasons))


@pytest.fixture(scope="session")
def containerd_node() -> Iterator[ContainerdNode]:
    """A running containerd shared by the whole session. Tests must remove the pods they create."""
    _skip_unless_containerd_can_run()
    node = ContainerdNode.start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def containerd_node_factory() -> Iterator[Callable[..., ContainerdNode]]:
    """Start private nodes on demand and stop them after the test.

    Keyword arguments of the returned callable go to ``ContainerdNode.start``.
    """
    _skip_unless_containerd_can_run()
    nodes: list[ContainerdNode] = []

    def start(**options: object) -> ContainerdNode:
        node = ContainerdNode.start(**options)  # type: ignore[arg-type]
        nodes.append(node)
        return node

    try:
        yield start
    finally:
        for node in reversed(nodes):
            node.stop()
