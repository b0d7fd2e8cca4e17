"""``evictsim daemon``: sample the node every interval and log what the kubelet would do.

The command builds the pieces (policy, sample source, pod specs, the API's live state and
server) and hands them to :class:`simulator.daemon.Daemon`. An invalid policy or option is
an InputError, which the dispatcher prints as one line before exiting with status 2.
"""

from __future__ import annotations

import argparse
from typing import Any

import structlog

from simulator.api.server import add_server_arguments, make_live_state, parse_metrics_listen, start_server
from simulator.daemon.daemon import (
    CONTAINER_GC_PERIOD_S,
    EVICTION_MONITORING_PERIOD_S,
    IMAGE_GC_PERIOD_S,
    Daemon,
    DaemonSettings,
    ReplaySource,
)
from simulator.daemon.logging import LOG_LEVELS, configure_logging
from simulator.daemon.node_policy import kubelet_config_document, kubelet_version_from_node
from simulator.errors import EvictsimError, InputError, ProbeError
from simulator.policy.lint import lint_policy
from simulator.policy.load import add_policy_arguments, policy_from_args
from simulator.replay import RecordedSource


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "daemon",
        help="sample the node every interval and log what the kubelet's eviction manager and GC would do",
        description=(
            "Sample the node (or a recording) every interval, evaluate it with the kubelet's eviction and "
            "garbage-collection rules, and log structured events when a decision changes."
        ),
    )
    timing = parser.add_argument_group("timing")
    timing.add_argument(
        "--interval",
        type=_positive_seconds,
        default=EVICTION_MONITORING_PERIOD_S,
        metavar="SECONDS",
        help="seconds between samples (default: 10, the kubelet's eviction monitoring period)",
    )
    timing.add_argument(
        "--image-gc-period",
        type=_positive_seconds,
        default=IMAGE_GC_PERIOD_S,
        metavar="SECONDS",
        help="seconds between image GC checks (default: 300, the kubelet's ImageGCPeriod)",
    )
    timing.add_argument(
        "--container-gc-period",
        type=_positive_seconds,
        default=CONTAINER_GC_PERIOD_S,
        metavar="SECONDS",
        help="seconds between container GC checks (default: 60, the kubelet's ContainerGCPeriod)",
    )
    stop = timing.add_mutually_exclusive_group()
    stop.add_argument("--once", action="store_const", const=1, dest="ticks", help="stop after one tick")
    stop.add_argument("--ticks", type=_positive_int, metavar="N", help="stop after N ticks (default: run until stopped)")

    node = parser.add_argument_group("node data")
    node.add_argument("--cri-endpoint", metavar="URL", help="CRI socket, e.g. unix:///run/containerd/containerd.sock "
                      "(default: try containerd, CRI-O and cri-dockerd in that order)")
    node.add_argument("--timeout", type=_positive_seconds, default=2.0, metavar="SECONDS",
                      help="deadline of each CRI call in seconds (default: 2)")
    node.add_argument("--root-dir", metavar="DIR", help="the kubelet's root directory (default: the policy's, /var/lib/kubelet)")
    node.add_argument("--pod-log-dir", metavar="DIR",
                      help="the kubelet's container log directory (default: the policy's podLogsDir, /var/log/pods)")
    node.add_argument("--mountinfo", metavar="PATH", default="/proc/self/mountinfo",
                      help="mount table to read once at start (default: /proc/self/mountinfo; use /proc/1/mountinfo in a container)")
    node.add_argument("--replay", metavar="FILE|DIR",
                      help="use recorded Summary JSON files (a file, or a directory read in name order) instead of the live node")
    node.add_argument("--hold", action="store_true",
                      help="with --replay, keep serving the API and metrics after the last recorded sample until SIGTERM or SIGINT")
    node.add_argument("--pods", metavar="FILE", help="pod specs as `kubectl get pods -o json` output")
    node.add_argument("--node-name", metavar="NAME", help="node whose pods (and, without --kubelet-version, kubelet version) to read from the Kubernetes API "
                      "(in-cluster config or kubeconfig)")
    node.add_argument("--kubeconfig", metavar="FILE", help="kubeconfig for --node-name (default: in-cluster config, then ~/.kube/config)")

    parser.add_argument("--log-level", choices=LOG_LEVELS, default="info", help="lowest level logged (default: info)")

    _add_optional_arguments(parser)
    parser.set_defaults(handler=run)


def _add_optional_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the policy and API options from their packages."""
    add_policy_arguments(parser)
    add_server_arguments(parser)


def run(args: argparse.Namespace) -> int:
    configure_logging(args.log_level)
    if args.metrics_listen:
        parse_metrics_listen(args.metrics_listen)
    if args.hold and not args.replay:
        raise InputError("--hold applies to --replay only; a live daemon already runs until stopped", field="hold", value=True)
    _take_version_from_node(args)
    policy = policy_from_args(args)
    kubelet_config = kubelet_config_document(args, policy)
    pods = _load_pods(args)
    source = _build_source(args, policy)
    layout = None
    scenario = getattr(getattr(source, "recorded", None), "scenario", None)
    if scenario is not None:
        # a replayed scenario brings its own policy, pods and layout unless the command line gives them
        if not _policy_options_given(args):
            policy = scenario.policy
            kubelet_config = None
        if pods is None:
            pods = scenario.pods
        layout = scenario.layout
    settings = DaemonSettings(
        interval_s=args.interval,
        image_gc_period_s=args.image_gc_period,
        container_gc_period_s=args.container_gc_period,
        max_ticks=args.ticks,
        node_name=args.node_name or "",
        hold=args.hold,
    )

    live_state = make_live_state(args)
    daemon = Daemon(source=source, policy=policy, settings=settings, pods=pods, live_state=live_state,
                    lint=lint_policy, layout=layout, kubelet_config=kubelet_config,
                    kubelet_start_probe=None if args.replay else _kubelet_start)
    # Signals are handled from before the API starts until it has stopped.
    with daemon.handling_signals():
        # --no-api with --metrics-listen still serves the metrics, without the gRPC API
        serves = not args.no_api or bool(args.metrics_listen)
        server = start_server(live_state, args) if serves else None
        try:
            code = daemon.run(handle_signals=False)
        finally:
            if server is not None:
                # a short grace keeps a signalled stop within about a second
                server.stop(grace_s=0.5)
    if args.replay and daemon.replay_finished and daemon.ticks == 0:
        raise InputError(
            f"--replay {args.replay}: no valid recorded sample (see the recorded_sample_invalid events); "
            "expected Summary API JSON files",
            field="--replay",
            value=args.replay,
        )
    return code


def _kubelet_start() -> Any:
    from simulator.probes.kubelet_process import find_kubelet_process

    process = find_kubelet_process()
    return process.started_at if process is not None else None


def _take_version_from_node(args: argparse.Namespace) -> None:
    """Set ``--kubelet-version`` from the Node's status when ``--node-name`` is given without a version.

    An unreachable API leaves the version unset (the newest supported) with a warning; an
    unsupported version on the Node is an InputError.
    """
    if not args.node_name or getattr(args, "kubelet_version", None) or getattr(args, "node_file", None):
        return
    log = structlog.get_logger("evictsim.daemon").bind(component="daemon", node=args.node_name)
    try:
        reported, version = kubelet_version_from_node(args.node_name, kubeconfig=args.kubeconfig)
    except ProbeError as error:
        log.warning("kubelet_version_from_node_failed", error=str(error), fallback="the policy's default version")
        return
    args.kubelet_version = version
    args.kubelet_version_from_node = True
    log.info("kubelet_version_from_node", kubelet_version=version, node_kubelet_version=reported)


def _policy_options_given(args: argparse.Namespace) -> bool:
    names = ["kubelet_config", "config_dir", "configz", "flags", "flags_file", "preset"]
    if not getattr(args, "kubelet_version_from_node", False):
        # a version read from the Node does not replace a replayed scenario's own policy
        names.append("kubelet_version")
    return any(getattr(args, name, None) for name in names)


def _build_source(args: argparse.Namespace, policy: Any) -> Any:
    if args.replay:
        return ReplaySource(RecordedSource(args.replay))
    from simulator.daemon.live import LiveSource

    return LiveSource.open(
        endpoint=args.cri_endpoint,
        timeout_s=args.timeout,
        root_dir=args.root_dir or policy.root_dir,
        mountinfo=args.mountinfo,
        node_name=args.node_name,
        interval_s=args.interval,
        runtime_dirs_period_s=args.image_gc_period,
        log_root=args.pod_log_dir or policy.pod_logs_dir,
    )


def _load_pods(args: argparse.Namespace) -> list[Any] | None:
    """Return the pod specs, or ``None`` when none were given (pods are then ranked from stats alone)."""
    if args.pods and args.node_name:
        raise InputError("--pods and --node-name are exclusive; give the pod specs one way", field="--pods")
    if args.pods:
        from simulator.pods import load_pod_list

        return list(load_pod_list(args.pods))
    if args.node_name:
        from simulator.pods import list_node_pods

        # NOTE: the pod list is read once at start; pods created later are ranked from stats alone.
        try:
            return list(list_node_pods(args.node_name, kubeconfig=args.kubeconfig))
        except EvictsimError:
            raise
        except Exception as error:
            raise EvictsimError(
                f"cannot list the pods of node {args.node_name!r} from the Kubernetes API: {error}; "
                "check the kubeconfig (--kubeconfig) or give the specs with --pods FILE"
            ) from error
    return None


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of seconds {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"invalid number of seconds {text!r}; expected a number > 0")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid count {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid count {text!r}; expected an integer >= 1")
    return value
