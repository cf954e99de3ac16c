"""qdirect: run KubeVirt VirtualMachineInstances on QEMU directly.

    import qdirect
    vmi = qdirect.Vmi.load("examples/testvm.yaml")
    print(vmi.render(accel="tcg"))          # the QEMU argv
    with qdirect.Machine(vmi) as m:         # starts QEMU; stops it on exit
        m.console.expect(r"QDIRECT-GUEST-UP", timeout=90)

See bindings/python/README.md. Errors are :class:`qdirect.Error` subclasses.
"""

from . import _qdirect
from ._errors import (AlreadyExists, Error, FailedPrecondition, InvalidArgument,
                      NotFound, PermissionDenied, QmpError, SpecError, Timeout,
                      Unavailable, Unimplemented)
from ._machine import Agent, Console, Events, ExecResult, Machine
from ._vmi import Vmi

#: Whether this build's vm::Machine exposes its QMP client (Machine.qmp and
#: Machine.events work only then).
HAS_QMP: bool = bool(_qdirect.HAS_QMP)

__all__ = [
    "Agent", "AlreadyExists", "Console", "Error", "Events", "ExecResult",
    "FailedPrecondition", "HAS_QMP", "InvalidArgument", "Machine", "NotFound",
    "PermissionDenied", "QmpError", "SpecError", "Timeout", "Unavailable",
    "Unimplemented", "Vmi",
]
