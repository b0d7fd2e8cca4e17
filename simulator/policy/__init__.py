"""The kubelet policy layer: every input surface, version defaults and lint, producing one ``Policy``.

Modules: ``model`` (dataclasses), ``grammar`` (threshold parsing), ``kubeletconfig`` (files,
drop-ins, /configz), ``flags`` (command-line flags), ``defaults`` and ``versions`` (per-version
facts), ``presets`` (policies/*.yaml), ``load`` (the layering), ``containerfs`` and ``lint``.
"""

from simulator.policy.load import (
    PolicyInputs,
    add_policy_arguments,
    build_policy,
    default_policy,
    policy_from_args,
    policy_from_kubelet_config,
)
from simulator.policy.model import Policy

__all__ = [
    "Policy",
    "PolicyInputs",
    "add_policy_arguments",
    "build_policy",
    "default_policy",
    "policy_from_args",
    "policy_from_kubelet_config",
]
