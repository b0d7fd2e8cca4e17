"""The daemon reads container logs where the kubelet writes them (podLogsDir)."""

from __future__ import annotations

import argparse
from pathlib import Path

from simulator.cli.daemon import _build_source
from simulator.policy.load import PolicyInputs, build_policy

MOUNTINFO = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"


def _args(tmp_path: Path, pod_log_dir: str | None) -> argparse.Namespace:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(MOUNTINFO)
    return argparse.Namespace(
        replay=None,
        cri_endpoint="unix:///nonexistent/cri.sock",
        timeout=1.0,
        root_dir=str(tmp_path),
        mountinfo=str(mountinfo),
        node_name=None,
        interval=10.0,
        image_gc_period=300.0,
        pod_log_dir=pod_log_dir,
    )


def test_log_root_from_policy(tmp_path: Path) -> None:
    """Without --pod-log-dir the policy's podLogsDir is used, as the kubelet writes logs there."""
    config = tmp_path / "kubelet.yaml"
    config.write_text("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\npodLogsDir: /data/logs\n")
    policy = build_policy(PolicyInputs(config_file=str(config)))
    source = _build_source(_args(tmp_path, None), policy)
    assert source.log_root == Path("/data/logs")


def test_log_root_option_wins(tmp_path: Path) -> None:
    """--pod-log-dir replaces the policy's value (for a daemon whose host path is mounted elsewhere)."""
    policy = build_policy(PolicyInputs())
    source = _build_source(_args(tmp_path, "/host/var/log/pods"), policy)
    assert source.log_root == Path("/host/var/log/pods")
