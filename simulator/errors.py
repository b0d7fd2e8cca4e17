"""The exception tree of evictsim.

    EvictsimError
    ├── InputError            bad user input: a config, snapshot, scenario, request or mount table.
    │                         The CLI exits 2 and the API returns INVALID_ARGUMENT with its message.
    ├── UnsupportedVersionError   a kubelet version outside the supported range (also an InputError)
    └── ProbeError            a live probe failed (CRI, statfs, cgroups). The daemon logs it and retries.
        ├── RuntimeUnavailableError   the CRI socket is missing, refuses, or times out
        ├── NotCriServerError         the endpoint responds but is not a CRI v1 server
        └── FsInfoError               cAdvisor-style filesystem lookup failure (see probes.fsinfo)

Every message is one line that names the field or path, the bad value and what is accepted.
"""

from __future__ import annotations


class EvictsimError(Exception):
    """Base class of every error evictsim raises on purpose."""


class InputError(EvictsimError, ValueError):
    """Invalid user input; ``field`` is a dotted or JSON-pointer path, ``source`` a file or request."""

    def __init__(self, message: str, *, field: str = "", value: object = None, source: str = "") -> None:
        self.field = field
        self.value = value
        self.source = source
        prefix = f"{source}: " if source else ""
        super().__init__(f"{prefix}{message}")


class UnsupportedVersionError(InputError):
    """A kubelet version evictsim does not model."""


class ProbeError(EvictsimError):
    """A live probe of the node failed."""


class RuntimeUnavailableError(ProbeError):
    """The container runtime could not be reached over CRI."""


class NotCriServerError(ProbeError):
    """The endpoint responded, but not as a CRI runtime.v1 server."""


class FsInfoError(ProbeError):
    """A filesystem lookup failed the way cAdvisor's GetDirFsInfo fails.

    ``kind`` is ``"device_not_found"`` (no partition for the directory's device, which fails
    the whole Summary in current kubelets) or ``"data_not_found"`` (no cached sample yet, which
    yields a partial imageFs), or ``"os_error"``.
    """

    def __init__(self, message: str, *, kind: str) -> None:
        self.kind = kind
        super().__init__(message)
