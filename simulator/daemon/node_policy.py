"""Sources of the daemon's policy: the KubeletConfiguration document and the Node's kubelet version.

The API applies what-if policy patches to the document the policy was loaded from, so a patched
policy is loaded again with the kubelet's defaults for the node's version. The kubelet version
is read from the Node object when the daemon watches a named node and no version was given.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from simulator.errors import InputError, ProbeError
from simulator.policy.kubeletconfig import read_config_file, read_configz_file
from simulator.policy.model import Policy
from simulator.policy.presets import preset_config
from simulator.policy.versions import normalize_version

# Seconds one request to the Kubernetes API may take before the daemon gives up on it.
NODE_REQUEST_TIMEOUT_S = 10.0


def kubelet_config_document(args: argparse.Namespace, policy: Policy) -> dict[str, Any]:
    """Return the KubeletConfiguration document that ``policy`` was loaded from.

    A configz file, a single config file or a preset is returned as read, so a re-load applies
    the version defaults to it exactly as the first load did. Drop-in directories and flags
    have no single document, so the document is rebuilt from the effective policy's fields.
    """
    layered = bool(getattr(args, "config_dir", None) or getattr(args, "flags", None) or getattr(args, "flags_file", None))
    if getattr(args, "configz", None):
        return dict(read_configz_file(args.configz).data)
    if not layered and getattr(args, "kubelet_config", None):
        return dict(read_config_file(args.kubelet_config).data)
    if not layered and getattr(args, "preset", None):
        return preset_config(args.preset, version=policy.kubelet_version)

    from simulator.api.policy_adapter import config_document

    # NOTE: a rebuilt document carries the effective thresholds, so a what-if kubelet version
    # keeps them instead of applying that version's defaults to the original partial maps.
    return config_document(policy, None)


def _response_bytes(response: Any) -> bytes:
    """Return the body of a response the client returned unparsed (urllib3 or the client's wrapper)."""
    data = getattr(response, "data", None)
    if isinstance(data, bytes):
        return data
    return bytes(response.read())


def kubelet_version_from_node(node_name: str, *, kubeconfig: str | None = None) -> tuple[str, str]:
    """Read ``status.nodeInfo.kubeletVersion`` of ``node_name`` from the Kubernetes API (get node only).

    Returns the version as the Node reports it and its ``major.minor``. Uses the in-cluster
    configuration when available, else the kubeconfig. Raises InputError for an unsupported
    version or an unusable configuration and ProbeError when the request fails.
    """
    from kubernetes import client, config  # imported lazily: it is slow to import
    from kubernetes.client.exceptions import OpenApiException
    from kubernetes.config.config_exception import ConfigException
    from urllib3.exceptions import HTTPError

    try:
        config.load_incluster_config()
    except ConfigException:
        try:
            config.load_kube_config(config_file=kubeconfig)
        except (ConfigException, OSError) as error:
            raise InputError(
                f"no in-cluster configuration and no usable kubeconfig: {error}", field="kubeconfig", value=kubeconfig
            ) from error
    api = client.CoreV1Api()
    try:
        # The raw JSON is read because only one field is needed: the client's model would reject
        # a Node whose other nodeInfo fields are missing.
        response = api.read_node(node_name, _preload_content=False, _request_timeout=NODE_REQUEST_TIMEOUT_S)
        node = json.loads(_response_bytes(response))
    except (OpenApiException, HTTPError, ValueError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ProbeError(f"reading node {node_name} from the Kubernetes API failed: {message}") from error

    reported = None
    if isinstance(node, dict):
        reported = ((node.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion")
    if not isinstance(reported, str) or not reported:
        raise InputError(
            f"status.nodeInfo.kubeletVersion: missing on node {node_name}; give the version with --kubelet-version",
            field="status.nodeInfo.kubeletVersion",
            value=reported,
        )
    try:
        return reported, normalize_version(reported)
    except InputError as error:
        raise InputError(
            f"node {node_name} status.nodeInfo.kubeletVersion: {error}; give a supported one with --kubelet-version",
            field="status.nodeInfo.kubeletVersion",
            value=reported,
        ) from error
