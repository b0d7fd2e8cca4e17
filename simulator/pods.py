"""Pod specs as the eviction manager reads them: priority, requests, limits, annotations, volumes.

Specs come from a ``kubectl get pods -o json`` file (a PodList, a List, a bare JSON array or one
Pod; YAML is accepted too) or from the Kubernetes API through the official ``kubernetes``
client, which only lists the pods bound to one node. Both go through :meth:`PodSpec.from_k8s`.

The request rule is the one the kubelet's eviction ranking uses (``GetResourceRequestQuantity``
in kubernetes pkg/api/v1/resource, 1.29-1.35). It is the larger of two sums: app containers
plus sidecars (init containers with ``restartPolicy: Always``), and the largest regular init
container plus the sidecars started before it. Pod overhead is added only when that total is
non-zero. Pod-level requests replace it when PodLevelResources is on and the pod sets them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any


from simulator.documents import load_document
from simulator.errors import InputError, ProbeError
from simulator.quantity import Quantity, QuantityError
from simulator.signals import SYSTEM_CRITICAL_PRIORITY

# Annotations the kubelet reads to tell static and mirror pods (kubernetes pkg/kubelet/types).
CONFIG_SOURCE_ANNOTATION = "kubernetes.io/config.source"
CONFIG_MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
API_SOURCE = "api"

# Volume sources the kubelet counts as node-local for disk ranking besides default-medium
# emptyDirs: hostPath, and the local ephemeral gitRepo and configMap volumes
# (kubernetes pkg/volume/util IsLocalEphemeralVolume, 1.27-1.35).
_LOCAL_SOURCES = ("hostPath", "gitRepo", "configMap")


@dataclasses.dataclass(frozen=True, slots=True)
class ContainerSpec:
    """One container of a pod: its name, requests and limits by resource name."""

    name: str
    requests: Mapping[str, Quantity] = dataclasses.field(default_factory=dict)
    limits: Mapping[str, Quantity] = dataclasses.field(default_factory=dict)
    restart_policy: str | None = None

    @property
    def is_sidecar(self) -> bool:
        """True for an init container with ``restartPolicy: Always`` (a restartable sidecar)."""
        return self.restart_policy == "Always"


@dataclasses.dataclass(frozen=True, slots=True)
class VolumeSpec:
    """One pod volume: its name, source type, and the emptyDir medium and sizeLimit if any."""

    name: str
    source: str
    empty_dir_medium: str = ""
    empty_dir_size_limit: Quantity | None = None

    @property
    def is_local(self) -> bool:
        """True when the kubelet counts this volume's usage on the node's filesystem."""
        if self.source in _LOCAL_SOURCES:
            return True
        return self.source == "emptyDir" and self.empty_dir_medium == ""


@dataclasses.dataclass(frozen=True, slots=True)
class PodSpec:
    """The parts of a pod the eviction manager reads.

    ``priority`` is ``None`` when the pod has no ``spec.priority`` (the kubelet then uses 0).
    ``termination_grace_period_s`` is ``None`` when unset (the API server defaults it to 30,
    so only hand-written specs lack it).
    """

    name: str
    namespace: str
    uid: str = ""
    priority: int | None = None
    annotations: Mapping[str, str] = dataclasses.field(default_factory=dict)
    owner_kind: str = ""
    termination_grace_period_s: int | None = None
    containers: tuple[ContainerSpec, ...] = ()
    init_containers: tuple[ContainerSpec, ...] = ()
    overhead: Mapping[str, Quantity] = dataclasses.field(default_factory=dict)
    pod_requests: Mapping[str, Quantity] = dataclasses.field(default_factory=dict)
    pod_limits: Mapping[str, Quantity] = dataclasses.field(default_factory=dict)
    volumes: tuple[VolumeSpec, ...] = ()
    phase: str = ""
    node_name: str = ""
    # Values derived from this spec on first use (request and limit sums, ranking facts), because
    # each pass reads them many times. It is not an __init__ argument, so a copy made with
    # dataclasses.replace starts with an empty cache instead of the original's stale values.
    derived: dict[tuple[str, str, bool], Any] = dataclasses.field(
        default_factory=dict, init=False, compare=False, repr=False
    )
    key: str = dataclasses.field(init=False, compare=False, repr=False)
    """The pod as ``namespace/name``."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", f"{self.namespace}/{self.name}")

    @classmethod
    def from_k8s(cls, obj: Mapping[str, Any], *, field: str = "pod", source: str = "") -> PodSpec:
        """Build a PodSpec from a Pod object as the API serializes it (camelCase keys).

        Raises InputError naming the field when a name is missing or a quantity is invalid.
        """
        return _PodReader(source).pod(obj, field)


# ---------------------------------------------------------------------------------------------
# kubelet predicates and request sums


def pod_priority(pod: PodSpec) -> int:
    """Return the pod's priority, 0 when unset (corev1helpers.PodPriority)."""
    return pod.priority if pod.priority is not None else 0


def is_static(pod: PodSpec) -> bool:
    """True when the pod came from a file or URL source, not the API server."""
    source = pod.annotations.get(CONFIG_SOURCE_ANNOTATION)
    return source is not None and source != API_SOURCE


def is_mirror(pod: PodSpec) -> bool:
    """True for the API server's mirror of a static pod."""
    return CONFIG_MIRROR_ANNOTATION in pod.annotations


def is_critical(pod: PodSpec) -> bool:
    """True for pods the kubelet never evicts: static, mirror, or priority >= 2000000000."""
    if is_static(pod) or is_mirror(pod):
        return True
    return pod.priority is not None and pod.priority >= SYSTEM_CRITICAL_PRIORITY


def _container_sum(containers: Iterable[ContainerSpec], resource: str, *, limits: bool) -> Fraction:
    total = Fraction(0)
    for container in containers:
        values = container.limits if limits else container.requests
        quantity = values.get(resource)
        if quantity is not None:
            total += quantity.value
    return total


def _scheduler_sum(pod: PodSpec, resource: str, *, limits: bool) -> Fraction:
    """Sum ``resource`` the way the scheduler does, without pod overhead."""
    total = _container_sum(pod.containers, resource, limits=limits)
    sidecars = Fraction(0)
    largest_init = Fraction(0)
    for container in pod.init_containers:
        values = container.limits if limits else container.requests
        quantity = values.get(resource)
        amount = quantity.value if quantity is not None else Fraction(0)
        if container.is_sidecar:
            total += amount
            sidecars += amount
            largest_init = max(largest_init, sidecars)
        else:
            largest_init = max(largest_init, amount + sidecars)
    return max(total, largest_init)


def _exact(value: Fraction) -> Fraction | int:
    return int(value) if value.denominator == 1 else value


def pod_request(pod: PodSpec, resource: str, *, pod_level_resources: bool = False) -> Fraction | int:
    """Return the pod's request of ``resource`` as the kubelet's ranking computes it.

    ``pod_level_resources`` is the PodLevelResources feature gate; when it is on and the pod
    sets ``spec.resources.requests`` for this resource, that value wins.
    """
    key = ("request", resource, pod_level_resources)
    cached = pod.derived.get(key)
    if cached is None:
        cached = pod.derived[key] = _exact(_pod_request(pod, resource, pod_level_resources))
    return cached


def _pod_request(pod: PodSpec, resource: str, pod_level_resources: bool) -> Fraction:
    if pod_level_resources and resource in pod.pod_requests:
        total = pod.pod_requests[resource].value
    else:
        total = _scheduler_sum(pod, resource, limits=False)
    overhead = pod.overhead.get(resource)
    if overhead is not None and total != 0:
        total += overhead.value
    return total


def pod_limit(pod: PodSpec, resource: str) -> Fraction | int | None:
    """Return the pod's limit of ``resource`` (summed like requests, plus overhead), or None.

    None means no container, init container or pod-level entry sets the limit, which is how
    the kubelet decides whether the pod-level ephemeral-storage check applies at all.
    """
    key = ("limit", resource, False)
    if key not in pod.derived:
        total = _pod_limit(pod, resource)
        pod.derived[key] = None if total is None else _exact(total)
    return pod.derived[key]


def _pod_limit(pod: PodSpec, resource: str) -> Fraction | None:
    if resource in pod.pod_limits:
        return pod.pod_limits[resource].value
    declared = any(resource in c.limits for c in (*pod.containers, *pod.init_containers))
    if not declared:
        return None
    total = _scheduler_sum(pod, resource, limits=True)
    overhead = pod.overhead.get(resource)
    if overhead is not None:
        total += overhead.value
    return total


# ---------------------------------------------------------------------------------------------
# loading


def load_pod_list(path: str | Path, *, option: str = "--pods") -> list[PodSpec]:
    """Read pod specs from a ``kubectl get pods -o json`` (or YAML) file.

    Accepts a PodList or List (``items``), a bare array of pods, or a single Pod. Raises
    InputError for unreadable files, malformed documents and invalid fields.
    """
    return parse_pod_list(load_document(path, option=option), source=str(path))


def parse_pod_list(document: Any, *, source: str = "") -> list[PodSpec]:
    """Build pod specs from a decoded PodList, List, array of pods or single Pod."""
    reader = _PodReader(source)
    if isinstance(document, list):
        return [reader.pod(item, f"[{i}]") for i, item in enumerate(document)]
    if isinstance(document, Mapping):
        if document.get("kind") == "Pod" or ("metadata" in document and "spec" in document):
            return [reader.pod(document, "pod")]
        items = document.get("items")
        if isinstance(items, list):
            return [reader.pod(item, f"items[{i}]") for i, item in enumerate(items)]
    raise InputError(
        "invalid pods document: expected a PodList with items, a JSON array of pods, or one Pod",
        field="pods",
        source=source,
    )


def list_node_pods(node_name: str, *, kubeconfig: str | None = None, context: str | None = None) -> list[PodSpec]:
    """List the pods bound to ``node_name`` from the Kubernetes API (read-only).

    Uses the in-cluster configuration when it is available, else the kubeconfig. Only the
    ``list pods`` verb is used, with a ``spec.nodeName`` field selector. Raises InputError when
    no configuration is usable and ProbeError when the request fails.
    """
    from kubernetes import client, config  # imported lazily: it is slow to import
    from kubernetes.client.exceptions import OpenApiException
    from kubernetes.config.config_exception import ConfigException
    from urllib3.exceptions import HTTPError

    try:
        config.load_incluster_config()
    except ConfigException:
        try:
            config.load_kube_config(config_file=kubeconfig, context=context)
        except (ConfigException, OSError) as error:
            raise InputError(
                f"no in-cluster configuration and no usable kubeconfig: {error}", field="kubeconfig", value=kubeconfig
            ) from error
    api = client.CoreV1Api()
    try:
        response = api.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node_name}")
    except (OpenApiException, HTTPError, ValueError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ProbeError(f"listing the pods of node {node_name} from the Kubernetes API failed: {message}") from error
    serialized = api.api_client.sanitize_for_serialization(response)
    return parse_pod_list(serialized, source=f"kubernetes API (node {node_name})")


class _PodReader:
    """Reads Pod objects with field-qualified errors."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, field: str, value: object, expected: str) -> InputError:
        return InputError(f"{field}: invalid value {value!r}; expected {expected}", field=field, value=value, source=self.source)

    def mapping(self, value: object, field: str) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(field, value, "an object")
        return value

    def quantities(self, value: object, field: str) -> dict[str, Quantity]:
        result: dict[str, Quantity] = {}
        for name, text in self.mapping(value, field).items():
            try:
                result[str(name)] = Quantity.parse(str(text) if isinstance(text, (int, float)) else text)
            except QuantityError as error:
                raise InputError(
                    f"{field}.{name}: invalid quantity {text!r}: {error}", field=f"{field}.{name}", value=text, source=self.source
                ) from None
        return result

    def container(self, value: object, field: str) -> ContainerSpec:
        data = self.mapping(value, field)
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise self.fail(f"{field}.name", name, "a container name")
        resources = self.mapping(data.get("resources"), f"{field}.resources")
        restart_policy = data.get("restartPolicy")
        return ContainerSpec(
            name=name,
            requests=self.quantities(resources.get("requests"), f"{field}.resources.requests"),
            limits=self.quantities(resources.get("limits"), f"{field}.resources.limits"),
            restart_policy=restart_policy if isinstance(restart_policy, str) else None,
        )

    def volume(self, value: object, field: str) -> VolumeSpec:
        data = self.mapping(value, field)
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise self.fail(f"{field}.name", name, "a volume name")
        sources = [key for key in data if key != "name"]
        source = sources[0] if sources else ""
        if "emptyDir" in data:
            source = "emptyDir"
            empty_dir = self.mapping(data.get("emptyDir"), f"{field}.emptyDir")
            size_limit = None
            if empty_dir.get("sizeLimit") is not None:
                size_limit = self.quantities({"sizeLimit": empty_dir["sizeLimit"]}, f"{field}.emptyDir")["sizeLimit"]
            return VolumeSpec(name, source, str(empty_dir.get("medium") or ""), size_limit)
        return VolumeSpec(name, source)

    def integer(self, value: object, field: str) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(field, value, "an integer")
        return value

    def pod(self, value: object, field: str) -> PodSpec:
        data = self.mapping(value, field)
        metadata = self.mapping(data.get("metadata"), f"{field}.metadata")
        spec = self.mapping(data.get("spec"), f"{field}.spec")
        status = self.mapping(data.get("status"), f"{field}.status")
        name = metadata.get("name")
        if not isinstance(name, str) or not name:
            raise self.fail(f"{field}.metadata.name", name, "a pod name")
        namespace = metadata.get("namespace") or "default"
        annotations = {str(k): str(v) for k, v in self.mapping(metadata.get("annotations"), f"{field}.metadata.annotations").items()}
        owners = metadata.get("ownerReferences") or []
        owner_kind = ""
        if isinstance(owners, list):
            controllers = [o for o in owners if isinstance(o, Mapping) and o.get("controller")]
            chosen = controllers or [o for o in owners if isinstance(o, Mapping)]
            owner_kind = str(chosen[0].get("kind") or "") if chosen else ""
        pod_resources = self.mapping(spec.get("resources"), f"{field}.spec.resources")
        return PodSpec(
            name=name,
            namespace=str(namespace),
            uid=str(metadata.get("uid") or ""),
            priority=self.integer(spec.get("priority"), f"{field}.spec.priority"),
            annotations=annotations,
            owner_kind=owner_kind,
            termination_grace_period_s=self.integer(
                spec.get("terminationGracePeriodSeconds"), f"{field}.spec.terminationGracePeriodSeconds"
            ),
            containers=tuple(
                self.container(c, f"{field}.spec.containers[{i}]") for i, c in enumerate(spec.get("containers") or [])
            ),
            init_containers=tuple(
                self.container(c, f"{field}.spec.initContainers[{i}]") for i, c in enumerate(spec.get("initContainers") or [])
            ),
            overhead=self.quantities(spec.get("overhead"), f"{field}.spec.overhead"),
            pod_requests=self.quantities(pod_resources.get("requests"), f"{field}.spec.resources.requests"),
            pod_limits=self.quantities(pod_resources.get("limits"), f"{field}.spec.resources.limits"),
            volumes=tuple(self.volume(v, f"{field}.spec.volumes[{i}]") for i, v in enumerate(spec.get("volumes") or [])),
            phase=str(status.get("phase") or ""),
            node_name=str(spec.get("nodeName") or ""),
        )
