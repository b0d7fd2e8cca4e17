"""The evictsim daemon: the live loop from node samples to the kubelet's decisions and log events."""

from simulator.daemon.daemon import Daemon, DaemonSettings, Sample, SampleSource
from simulator.daemon.events import LogEvent, TickView, build_view, diff_events

__all__ = ["Daemon", "DaemonSettings", "LogEvent", "Sample", "SampleSource", "TickView", "build_view", "diff_events"]
