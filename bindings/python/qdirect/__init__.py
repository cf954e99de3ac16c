"""qdirect: run KubeVirt VirtualMachineInstances on QEMU directly.

    import qdirect
    vmi = qdirect.Vmi.load("examples/testvm.yaml")
    print(vmi.render(accel="tcg"))          # the QEMU argv
    with qdirect.Machine(vmi) as m:         # starts QEMU; stops it on exit
        m.console.expect(r"QDIRECT-GUEST-UP", timeout=90)

See bindings/python/README.md. Errors are :class:`qdirect.Error` subclasses.
"""

import json as _json
import os as _os

from . import _qdirect
from ._errors import (AlreadyExists, Error, FailedPrecondition, InvalidArgument,
                      NotFound, PermissionDenied, QmpError, SpecError, Timeout,
                      Unavailable, Unimplemented)
from ._machine import Agent, Console, Events, ExecResult, Machine
from ._vmi import Vmi

#: Whether this build's vm::Machine exposes its QMP client (Machine.qmp and
#: Machine.events work only then).
HAS_QMP: bool = bool(_qdirect.HAS_QMP)


def host_devices(sysfs_root=None):
    """This host's PCI devices for VFIO passthrough, grouped by IOMMU group
    with viability, drivers, GPU companions and mdev types: the dict `vmctl
    hostdev list --json` prints. sysfs_root: default $QDIRECT_SYSFS_ROOT or
    /sys (a synthetic tree in tests)."""
    root = sysfs_root or _os.environ.get("QDIRECT_SYSFS_ROOT") or "/sys"
    return _json.loads(_qdirect._host_devices_json(str(root)))


__all__ = [
    "Agent", "AlreadyExists", "Console", "Error", "Events", "ExecResult",
    "FailedPrecondition", "HAS_QMP", "InvalidArgument", "Machine", "NotFound",
    "PermissionDenied", "QmpError", "SpecError", "Timeout", "Unavailable",
    "Unimplemented", "Vmi", "host_devices",
]
