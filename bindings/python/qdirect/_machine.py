"""qdirect.Machine: one running VMI (a QEMU process) driven from Python.

The machine's event loop runs only while a call runs it: console output,
QMP events and status changes are taken in during calls (console.expect,
events.wait, pause, status waits, ...), not in the background. Nothing is
lost in between -- QEMU's output waits in the socket and the console log
(replayed on start) -- but nothing reacts either: a guest that fills the
socket while Python computes stalls on its serial port until the next call.
Every such call releases the GIL, so machines in different threads run in
parallel. One Machine is safe to share between threads (calls serialise).
"""

from __future__ import annotations

import codecs
import dataclasses
import json
import re
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Pattern, Union

from . import _qdirect
from ._errors import Error, Timeout, Unavailable, Unimplemented
from ._vmi import Source, Vmi

_TAIL_CHARS = 4096


def _remaining(deadline: Optional[float]) -> float:
    if deadline is None:
        return -1.0
    return max(0.0, deadline - time.monotonic())


class Console:
    """The serial console: regex expect over what the guest printed since
    start (replayed from the console log), and keystrokes."""

    def __init__(self, machine: "Machine") -> None:
        self._machine = machine
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""  # text after the last match, not yet matched
        self._tail = ""     # the newest output, for error messages
        self.last_match: Optional["re.Match[str]"] = None

    def _take(self, data: bytes) -> None:
        text = self._decoder.decode(data)
        self._pending += text
        # Unmatched output is bounded; a pattern spanning more is unusual.
        if len(self._pending) > (1 << 20):
            self._pending = self._pending[-(1 << 20):]
        self._tail = (self._tail + text)[-_TAIL_CHARS:]

    def expect(self, pattern: Union[str, Pattern[str]],
               timeout: Optional[float] = 30.0) -> str:
        """Runs the machine until ``pattern`` (a regex, searched in the output
        after the previous match) shows on the console; returns the matched
        text (the match object is ``last_match``). Raises
        :class:`qdirect.Timeout` (with ``.tail``, the recent output) after
        ``timeout`` seconds (None: no limit), and :class:`qdirect.Unavailable`
        when the VM stops first."""
        handle = self._machine._handle_or_raise()
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            match = regex.search(self._pending)
            if match is not None:
                self._pending = self._pending[match.end():]
                self.last_match = match
                return match.group(0)
            remaining = _remaining(deadline)
            if deadline is not None and remaining <= 0:
                raise Timeout(
                    f"console: pattern {regex.pattern!r} not seen within "
                    f"{timeout} s; console tail:\n{self._tail}",
                    tail=self._tail)
            data, alive = handle.console_read(remaining)
            self._take(data)
            if not data and not alive:
                raise Unavailable(
                    f"console: VM {self._machine.phase} before pattern "
                    f"{regex.pattern!r} showed; console tail:\n{self._tail}",
                    "UNAVAILABLE")

    def read(self, timeout: float = 0.0) -> str:
        """What arrived since the last match or read (waits up to timeout
        for something new when nothing is pending); consumes it."""
        if not self._pending:
            data, _ = self._machine._handle_or_raise().console_read(timeout)
            self._take(data)
        text, self._pending = self._pending, ""
        return text

    @property
    def tail(self) -> str:
        """The newest console output seen so far (up to 4096 characters)."""
        return self._tail

    def send(self, text: Union[str, bytes]) -> None:
        """Types ``text`` on the console (bytes as they are)."""
        data = text.encode("utf-8") if isinstance(text, str) else text
        self._machine._handle_or_raise().console_write(data)


EventMatch = Union[Mapping[str, Any], Callable[[Dict[str, Any]], bool], None]


def _subset(want: Any, have: Any) -> bool:
    if isinstance(want, Mapping):
        return isinstance(have, Mapping) and all(
            k in have and _subset(v, have[k]) for k, v in want.items())
    return want == have


class Events:
    """QMP events. A name is recorded from its first ``watch`` or ``wait``
    on: call ``watch`` before the action whose event you will wait for."""

    def __init__(self, machine: "Machine") -> None:
        self._machine = machine
        self._backlog: List[Dict[str, Any]] = []

    def watch(self, *names: str) -> None:
        """Starts recording the events ``names``."""
        for name in names:
            self._machine._handle_or_raise().events_watch(name)

    def wait(self, name: str, match: EventMatch = None,
             timeout: Optional[float] = 30.0) -> Dict[str, Any]:
        """The first recorded event ``name`` whose data contains ``match``
        (a dict compared as a subset, or a predicate on the data); a dict
        {"event", "data", "timestamp"}. Raises :class:`qdirect.Timeout`."""
        self.watch(name)
        deadline = None if timeout is None else time.monotonic() + timeout

        def fits(event: Dict[str, Any]) -> bool:
            if event["event"] != name:
                return False
            if match is None:
                return True
            if callable(match):
                return bool(match(event["data"]))
            return _subset(match, event["data"])

        while True:
            for i, event in enumerate(self._backlog):
                if fits(event):
                    return self._backlog.pop(i)
            remaining = _remaining(deadline)
            if deadline is not None and remaining <= 0:
                raise Timeout(f"events: no {name} matching {match!r} within {timeout} s")
            for text in self._machine._handle_or_raise().events_read(remaining):
                self._backlog.append(json.loads(text))
            del self._backlog[:-1024]


@dataclasses.dataclass
class ExecResult:
    """A finished guest-exec."""
    exit_code: int
    out: bytes
    err: bytes
    signal: Optional[int] = None
    exited: bool = True
    out_truncated: bool = False
    err_truncated: bool = False


class Agent:
    """The guest agent (qemu-ga). Raises :class:`qdirect.Unimplemented`
    ("not yet: ...") while vm::Machine does not provide it."""

    def __init__(self, machine: "Machine") -> None:
        self._machine = machine

    def exec(self, argv: List[str], *, input: Optional[Union[str, bytes]] = None,
             timeout: Optional[float] = 60.0,
             connect_timeout: float = 60.0) -> ExecResult:
        """Runs ``argv`` in the guest (guest-exec) and waits until it exited,
        up to ``timeout`` s; the agent connection is awaited up to
        ``connect_timeout`` s first."""
        data = input.encode("utf-8") if isinstance(input, str) else input
        result = self._machine._handle_or_raise().agent_exec(
            list(argv), data,
            -1.0 if timeout is None else timeout, connect_timeout)
        return ExecResult(exit_code=result["exit_code"], out=result["out"],
                          err=result["err"], signal=result["signal"],
                          exited=result["exited"],
                          out_truncated=result["out_truncated"],
                          err_truncated=result["err_truncated"])

    def osinfo(self, *, connect_timeout: float = 60.0) -> Dict[str, str]:
        """guest-get-osinfo: name, kernel_release, version, pretty_name,
        version_id, kernel_version, machine, id."""
        return dict(self._machine._handle_or_raise().agent_osinfo(connect_timeout))


class Machine:
    """A VMI run by QEMU. Use as a context manager::

        with qdirect.Machine(vmi) as m:
            m.console.expect("login:")

    Entering starts QEMU and returns once the guest's vCPUs run (or raises);
    leaving shuts it down (ACPI power button, ``stop_timeout`` seconds, then
    quit and SIGKILL) and removes its runtime directory, also when the body
    raised. ``runtime_root``: where ``<namespace>_<name>/`` is made (default
    $QDIRECT_RUNTIME_DIR, else /run/qdirect for root); QEMU runs as an
    unprivileged user, so the root must be traversable by it (0755).
    The accelerator comes from $QDIRECT_ACCEL (else kvm when usable).
    """

    def __init__(self, vmi: Union[Vmi, Source], runtime_root: Optional[str] = None,
                 *, start_timeout: float = 30.0, stop_timeout: float = 10.0,
                 console_log_bytes: int = 4 << 20, qemu_user: Optional[str] = None,
                 node_name: Optional[str] = None, incoming: Optional[str] = None,
                 migration: Optional[Mapping[str, Any]] = None) -> None:
        self.vmi = vmi if isinstance(vmi, Vmi) else Vmi.load(vmi)
        self.runtime_root = runtime_root
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.console_log_bytes = console_log_bytes
        self.qemu_user = qemu_user
        self.node_name = node_name
        # A live migration target: QEMU listens on this URI after start().
        self.incoming = incoming
        self.migration = dict(migration or {})
        self._handle: Optional[_qdirect.Machine] = None
        self.console = Console(self)
        self.events = Events(self)
        self.agent = Agent(self)

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> "Machine":
        """Starts QEMU; returns once the VM runs (phase Running)."""
        if self._handle is not None:
            raise Error("Machine.start: already started", "FAILED_PRECONDITION")
        self._handle = _qdirect.Machine._start(
            self.vmi._handle, self.runtime_root or "", self.console_log_bytes,
            self.start_timeout, self.qemu_user or "", self.node_name or "",
            self.incoming or "", json.dumps(self.migration) if self.migration else "")
        return self

    # -- live migration ----------------------------------------------------

    def migrate(self, uri: str, **options: Any) -> Dict[str, Any]:
        """Live-migrates to a target Machine(incoming=uri) and returns the
        final query-migrate figures (total_time_ms, downtime_ms, ...). Options
        use KubeVirt's MigrationConfiguration names (bandwidthPerMigration,
        parallelMigrationThreads, allowPostCopy, completionTimeoutPerGiB,
        progressTimeout, maxDowntimeMs, allowAutoConverge). On success this
        Machine's QEMU has quit (phase Succeeded); on failure the guest runs
        on here and the error says why."""
        return self._handle_or_raise().migrate(uri, json.dumps(options))

    def wait_incoming(self, timeout: float = 120.0) -> None:
        """Target: waits until the incoming migration completed (the VM then
        runs here) or raises when it failed."""
        self._handle_or_raise().wait_incoming(timeout)

    def cancel_migration(self) -> None:
        self._handle_or_raise().cancel_migration()

    def stop(self, timeout: Optional[float] = None) -> None:
        """Shuts down (power button, up to ``timeout`` s -- default
        stop_timeout --, then quit, then SIGKILL), then releases everything:
        QEMU is gone and the runtime directory removed. Idempotent."""
        handle = self._handle
        if handle is None or handle.closed:
            return
        try:
            if not self._final():
                handle.shutdown(self.stop_timeout if timeout is None else timeout)
        except Error:
            pass  # close() below kills whatever is left
        finally:
            handle.close()

    def close(self) -> None:
        """SIGKILLs QEMU if it still runs and removes the runtime directory."""
        if self._handle is not None:
            self._handle.close()

    def __enter__(self) -> "Machine":
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def __del__(self) -> None:
        handle = getattr(self, "_handle", None)
        if handle is not None:
            handle.close()

    # -- operations --------------------------------------------------------

    def pause(self) -> None:
        """Stops the vCPUs (QMP stop); condition Paused."""
        self._handle_or_raise().pause()

    def unpause(self) -> None:
        """Resumes the vCPUs (QMP cont)."""
        self._handle_or_raise().unpause()

    def reset(self) -> None:
        """Hard reset (QMP system_reset)."""
        self._handle_or_raise().reset()

    def soft_reboot(self) -> None:
        """Reboots the guest from inside, as ``virtctl soft-reboot``: the
        guest agent when it answers, else the ACPI power button (its
        power-off becomes a reset). The VMI stays Running."""
        self._handle_or_raise().soft_reboot()

    def stats(self) -> Dict[str, Any]:
        """One sample of the VM's counters: ``vcpus`` (cpuSeconds per vCPU
        thread), ``memory`` (qemuRssBytes, balloonActualBytes and the guest's
        figures once its balloon driver reported them), ``block`` and
        ``network`` (from the guest agent)."""
        return json.loads(self._handle_or_raise().stats_json())

    def shutdown(self, grace: Optional[float] = None) -> None:
        """ACPI power button, wait up to ``grace`` s (default: the spec's
        terminationGracePeriodSeconds, else 30), quit, SIGKILL. Returns once
        QEMU exited; ``phase`` then says Succeeded or Failed."""
        self._handle_or_raise().shutdown(grace)

    def kill(self) -> None:
        """SIGKILL now; returns once QEMU exited (phase Failed)."""
        self._handle_or_raise().kill()

    def wait_for(self, phase: str, timeout: Optional[float] = 30.0) -> None:
        """Runs the machine until ``phase`` ("Running", "Succeeded", ...);
        :class:`qdirect.FailedPrecondition` when it ended in another final
        phase, :class:`qdirect.Timeout` after ``timeout`` s."""
        self._handle_or_raise().wait_for(phase, -1.0 if timeout is None else timeout)

    def wait_for_condition(self, type: str, status: str = "True",
                           timeout: Optional[float] = 30.0) -> None:
        """Runs the machine until status.conditions has ``type`` with
        ``status`` ("True", "False", "Unknown"; an absent condition counts as
        False), e.g. ``wait_for_condition("AgentConnected")``. Raises
        :class:`qdirect.Timeout`, or :class:`qdirect.FailedPrecondition` when
        the VM stopped."""
        self._handle_or_raise().wait_for_condition(
            type, status, -1.0 if timeout is None else timeout)

    def status(self) -> Dict[str, Any]:
        """The VMI status as KubeVirt's ``.status`` JSON (with a "qdirect"
        object for qdirect's own fields)."""
        return json.loads(self._handle_or_raise().status_json())

    @property
    def phase(self) -> str:
        """The current phase ("Running", ...); "Closed" after close()."""
        if self._handle is None:
            return "NotStarted"
        return self._handle.phase()

    @property
    def runtime_dir(self) -> str:
        """<runtime root>/<namespace>_<name> (removed when the machine is)."""
        return self._handle_or_raise().runtime_dir()

    def qmp(self, command: str, arguments: Optional[Mapping[str, Any]] = None,
            **kwargs: Any) -> Any:
        """Sends a QMP command; returns its "return" value. Keyword names
        have "_" turned into "-" (``node_name=`` is "node-name");
        ``arguments`` is passed as it is. Raises :class:`qdirect.QmpError`
        (``.error_class``) when QEMU refuses, and
        :class:`qdirect.Unimplemented` while vm::Machine exposes no QMP
        client (``qdirect.HAS_QMP`` is False)."""
        args: Dict[str, Any] = dict(arguments or {})
        args.update({k.replace("_", "-"): v for k, v in kwargs.items()})
        reply = self._handle_or_raise().qmp(command, json.dumps(args) if args else "")
        return json.loads(reply)

    # -- hotplug -----------------------------------------------------------
    # Each returns {"outcome": "Done"|"Pending", "device": ..., "message": ...}
    # and raises (AlreadyExists, ResourceExhausted, FailedPrecondition, ...)
    # with the VM left as it was.

    def add_volume(self, name: str, *, disk: str = "", claim: str = "",
                   bus: str = "virtio", serial: str = "",
                   readonly: bool = False) -> Dict[str, str]:
        """Hot-plugs an existing image: ``disk`` (a hostDisk path, under
        QDIRECT_ALLOWED_ROOTS) or ``claim`` (a PVC in QDIRECT_PVC_DIR), on
        bus "virtio" (next free root port) or "scsi"."""
        return self._handle_or_raise().add_volume(name, disk, claim, bus, serial, readonly)

    def remove_volume(self, name: str, *, guest_wait: float = 10.0) -> Dict[str, str]:
        """Unplugs a hot-plugged volume; "Pending" when the guest has not
        released it within ``guest_wait`` s (it completes later)."""
        return self._handle_or_raise().remove_volume(name, guest_wait)

    def add_interface(self, name: str, *, mac: str = "",
                      model: str = "virtio") -> Dict[str, str]:
        """Hot-plugs a user-network NIC (masquerade layout)."""
        return self._handle_or_raise().add_interface(name, mac, model)

    def remove_interface(self, name: str, *, guest_wait: float = 10.0) -> Dict[str, str]:
        """Unplugs a hot-plugged NIC."""
        return self._handle_or_raise().remove_interface(name, guest_wait)

    def add_host_device(self, name: str, pci_address: str, *,
                        with_companions: bool = True) -> Dict[str, str]:
        """Hot-plugs the host's PCI device at ``pci_address`` ("0000:65:00.0")
        through VFIO, with the other functions of its slot that share its
        IOMMU group (a GPU's HDMI audio) unless ``with_companions`` is False.
        The device must be bound to vfio-pci and its group viable
        (``qdirect.host_devices()``); a refusal leaves the VM as it was."""
        return self._handle_or_raise().add_host_device(name, pci_address, with_companions)

    def remove_host_device(self, name: str, *, guest_wait: float = 10.0) -> Dict[str, str]:
        """Unplugs a hot-plugged host device (every function of its slot)."""
        return self._handle_or_raise().remove_host_device(name, guest_wait)

    def set_vcpus(self, sockets: int) -> Dict[str, str]:
        """Plugs CPUs up to ``sockets`` (spec.domain.cpu.maxSockets)."""
        return self._handle_or_raise().set_vcpus(sockets)

    def set_guest_memory(self, size: int, *, guest_wait: float = 10.0) -> Dict[str, str]:
        """Guest memory in bytes, up to spec.domain.memory.maxGuest
        (virtio-mem)."""
        return self._handle_or_raise().set_guest_memory(size, guest_wait)

    # -- internals ---------------------------------------------------------

    def _final(self) -> bool:
        return self.phase in ("Succeeded", "Failed", "Closed")

    def _handle_or_raise(self) -> "_qdirect.Machine":
        if self._handle is None:
            raise Error("qdirect.Machine: not started", "FAILED_PRECONDITION")
        return self._handle

    def __repr__(self) -> str:
        return f"<qdirect.Machine {self.vmi.namespace}/{self.vmi.name} {self.phase}>"


__all__ = ["Agent", "Console", "Events", "ExecResult", "Machine", "Unimplemented"]
