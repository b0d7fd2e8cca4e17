"""KubeletConfiguration v1beta1 field names, and the release that added each one evictsim checks.

Used to tell unknown fields (a typo, or a field newer than the chosen kubelet) from fields
evictsim simply does not model. Names come from k8s.io/kubelet/config/v1beta1/types.go
(1.27-1.35).
"""

from __future__ import annotations

from typing import Final

__all__ = ["KNOWN_FIELDS", "FIELD_SINCE", "is_known_field"]

KNOWN_FIELDS: Final[frozenset[str]] = frozenset(
    {
        "apiVersion", "kind", "enableServer", "staticPodPath", "podLogsDir", "syncFrequency",
        "fileCheckFrequency", "httpCheckFrequency", "staticPodURL", "staticPodURLHeader", "address",
        "port", "readOnlyPort", "tlsCertFile", "tlsPrivateKeyFile", "tlsCipherSuites", "tlsMinVersion",
        "rotateCertificates", "serverTLSBootstrap", "authentication", "authorization", "registryPullQPS",
        "registryBurst", "imagePullCredentialsVerificationPolicy", "preloadedImagesVerificationAllowlist",
        "eventRecordQPS", "eventBurst", "enableDebuggingHandlers", "enableContentionProfiling",
        "healthzPort", "healthzBindAddress", "oomScoreAdj", "clusterDomain", "clusterDNS",
        "streamingConnectionIdleTimeout", "nodeStatusUpdateFrequency", "nodeStatusReportFrequency",
        "nodeLeaseDurationSeconds", "imageMinimumGCAge", "imageMaximumGCAge",
        "imageGCHighThresholdPercent", "imageGCLowThresholdPercent", "volumeStatsAggPeriod",
        "kubeletCgroups", "systemCgroups", "cgroupRoot", "cgroupsPerQOS", "cgroupDriver",
        "cpuManagerPolicy", "singleProcessOOMKill", "cpuManagerPolicyOptions",
        "cpuManagerReconcilePeriod", "memoryManagerPolicy", "topologyManagerPolicy",
        "topologyManagerScope", "topologyManagerPolicyOptions", "qosReserved", "runtimeRequestTimeout",
        "hairpinMode", "maxPods", "podCIDR", "podPidsLimit", "resolvConf", "runOnce", "cpuCFSQuota",
        "cpuCFSQuotaPeriod", "nodeStatusMaxImages", "maxOpenFiles", "contentType", "kubeAPIQPS",
        "kubeAPIBurst", "serializeImagePulls", "maxParallelImagePulls", "evictionHard", "evictionSoft",
        "evictionSoftGracePeriod", "evictionPressureTransitionPeriod", "evictionMaxPodGracePeriod",
        "evictionMinimumReclaim", "mergeDefaultEvictionSettings", "podsPerCore",
        "enableControllerAttachDetach", "protectKernelDefaults", "makeIPTablesUtilChains",
        "iptablesMasqueradeBit", "iptablesDropBit", "featureGates", "failSwapOn", "memorySwap",
        "containerLogMaxSize", "containerLogMaxFiles", "containerLogMaxWorkers",
        "containerLogMonitorInterval", "configMapAndSecretChangeDetectionStrategy", "systemReserved",
        "kubeReserved", "reservedSystemCPUs", "showHiddenMetricsForVersion", "systemReservedCgroup",
        "kubeReservedCgroup", "enforceNodeAllocatable", "allowedUnsafeSysctls", "volumePluginDir",
        "providerID", "kernelMemcgNotification", "logging", "enableSystemLogHandler",
        "enableSystemLogQuery", "shutdownGracePeriod", "shutdownGracePeriodCriticalPods",
        "shutdownGracePeriodByPodPriority", "crashLoopBackOff", "reservedMemory",
        "enableProfilingHandler", "enableDebugFlagsHandler", "seccompDefault", "memoryThrottlingFactor",
        "registerWithTaints", "registerNode", "tracing", "localStorageCapacityIsolation",
        "containerRuntimeEndpoint", "imageServiceEndpoint", "failCgroupV1", "userNamespaces",
    }
)

# The first release with each eviction or GC field that is newer than 1.27.
FIELD_SINCE: Final[dict[str, str]] = {
    "imageMaximumGCAge": "1.29",
    "mergeDefaultEvictionSettings": "1.33",
}


def is_known_field(name: str) -> bool:
    """Return whether ``name`` is a KubeletConfiguration v1beta1 field of some release 1.27-1.35."""
    return name in KNOWN_FIELDS
