#!/usr/bin/env python3
"""Smoke test of the qdirect test guest on raw QEMU (no qdirect code).

Boots the guest with tests/guest/run-raw.sh and proves, in order: the console
marker and heartbeat; the guest agent (guest-sync-delimited, guest-ping,
guest-get-osinfo, guest-exec with captured output); hotplug of a virtio-blk disk
and a virtio-net NIC over QMP (seen on the console and in the guest's sysfs);
device_del (DEVICE_DELETED); system_powerdown (SHUTDOWN, QEMU exits).

usage: python3 tests/guest/smoke.py [--image-dir DIR] [--build] [--boot-runs N] [--deadline S]
Exit status 0 on success; 1 with a message naming the failed step otherwise.
Stdlib only. Every wait reads a socket for a pattern or an event under a
deadline; nothing sleeps to synchronise.
"""

import argparse
import base64
import json
import os
import re
import select
import socket
import statistics
import subprocess
import sys
import tempfile
import time

KIT_DIR = os.path.dirname(os.path.abspath(__file__))
MARKER = rb"QDIRECT-GUEST-UP boot_id=([0-9a-f-]{36})"


class Failure(Exception):
    """A smoke step failed; the message names the step."""


class Deadline:
    """The overall deadline; each wait takes the smaller of its own limit and what is left."""

    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def timeout(self, limit, what):
        left = self.end - time.monotonic()
        if left <= 0:
            raise Failure(f"overall deadline passed while waiting for {what}")
        return min(limit, left)


def listening_socket(path):
    """Binds and listens before QEMU starts, so connecting never races its startup."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(1)
    os.set_inheritable(s.fileno(), True)
    return s


class Stream:
    """A connected unix socket with a read buffer and deadline-bounded reads."""

    def __init__(self, path, name):
        self.name = name
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.connect(path)
        except OSError as e:
            raise Failure(f"{name}: cannot connect to {path}: {e} (did QEMU start?)") from None
        self.sock.setblocking(False)
        self.buf = b""

    def fill(self, until, what):
        """Reads what is available, waiting at most until `until` (monotonic)."""
        left = until - time.monotonic()
        if left <= 0:
            raise Failure(f"{self.name}: timed out waiting for {what}")
        ready, _, _ = select.select([self.sock], [], [], left)
        if not ready:
            raise Failure(f"{self.name}: timed out waiting for {what}")
        try:
            data = self.sock.recv(65536)
        except OSError as e:
            raise Failure(f"{self.name}: {e} while waiting for {what}") from None
        if not data:
            raise Failure(f"{self.name}: closed by QEMU while waiting for {what}")
        self.buf += data

    def send(self, data):
        self.sock.setblocking(True)
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise Failure(f"{self.name}: {e} while sending") from None
        self.sock.setblocking(False)

    def close(self):
        self.sock.close()


class Console(Stream):
    """The serial console: waits for regex patterns, keeping everything seen for diagnosis."""

    def __init__(self, path):
        super().__init__(path, "console")
        self.seen = b""

    def wait_for(self, pattern, timeout):
        until = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            m = rx.search(self.buf)
            if m:
                self.seen += self.buf[: m.end()]
                self.buf = self.buf[m.end():]
                return m
            self.fill(until, f"{pattern!r} on the console")

    def tail(self, n=2000):
        return (self.seen + self.buf)[-n:].decode(errors="replace")


class Qmp(Stream):
    """A minimal QMP client: commands with replies, events kept for wait_event."""

    def __init__(self, path, timeout):
        super().__init__(path, "qmp")
        self.events = []
        self.next_id = 0
        greeting = self._read(time.monotonic() + timeout, "the QMP greeting")
        if "QMP" not in greeting:
            raise Failure(f"qmp: unexpected greeting {greeting}")
        self.execute("qmp_capabilities", timeout=timeout)

    def _read(self, until, what):
        while b"\n" not in self.buf:
            self.fill(until, what)
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def execute(self, command, arguments=None, timeout=10.0):
        self.next_id += 1
        msg = {"execute": command, "id": self.next_id}
        if arguments is not None:
            msg["arguments"] = arguments
        self.send(json.dumps(msg).encode() + b"\n")
        until = time.monotonic() + timeout
        while True:
            reply = self._read(until, f"the reply to {command}")
            if "event" in reply:
                self.events.append(reply)
                continue
            if reply.get("id") != self.next_id:
                continue
            if "error" in reply:
                err = reply["error"]
                raise Failure(f"qmp: {command}: {err.get('class')}: {err.get('desc')}")
            return reply.get("return")

    def wait_event(self, name, match=None, timeout=10.0):
        until = time.monotonic() + timeout
        while True:
            for i, ev in enumerate(self.events):
                if ev["event"] == name and (match is None or match(ev.get("data", {}))):
                    del self.events[i]
                    return ev
            self.events.append(self._read(until, f"QMP event {name}"))


class Agent(Stream):
    """qemu-ga over its virtio-serial chardev: JSON lines, resynchronised with 0xFF."""

    def __init__(self, path):
        super().__init__(path, "agent")

    def sync(self, deadline):
        """guest-sync-delimited until the agent answers; returns seconds taken."""
        start = time.monotonic()
        token = int(start * 1000) % 1000000
        while True:
            token += 1
            msg = {"execute": "guest-sync-delimited", "arguments": {"id": token}}
            # A leading 0xFF makes a running agent drop any partial request.
            self.send(b"\xff" + json.dumps(msg).encode() + b"\n")
            until = time.monotonic() + deadline.timeout(5.0, "the guest agent")
            try:
                while True:
                    i = self.buf.find(b"\xff")
                    if i >= 0 and b"\n" in self.buf[i:]:
                        line, self.buf = self.buf[i + 1:].split(b"\n", 1)
                        if json.loads(line).get("return") == token:
                            return time.monotonic() - start
                        continue
                    self.fill(until, "the guest-sync-delimited reply")
            except Failure:
                # Not up yet (qemu-ga starts after the marker may be seen): ask again.
                if time.monotonic() >= deadline.end:
                    raise

    def execute(self, command, arguments=None, timeout=10.0):
        msg = {"execute": command}
        if arguments is not None:
            msg["arguments"] = arguments
        self.send(json.dumps(msg).encode() + b"\n")
        until = time.monotonic() + timeout
        while b"\n" not in self.buf:
            self.fill(until, f"the reply to {command}")
        line, self.buf = self.buf.split(b"\n", 1)
        reply = json.loads(line)
        if "error" in reply:
            err = reply["error"]
            raise Failure(f"agent: {command}: {err.get('class')}: {err.get('desc')}")
        return reply["return"]

    def exec_capture(self, argv, deadline):
        pid = self.execute("guest-exec", {"path": argv[0], "arg": argv[1:],
                                          "capture-output": True})["pid"]
        # The agent protocol has no completion event: guest-exec-status must be polled.
        while True:
            st = self.execute("guest-exec-status", {"pid": pid},
                              timeout=deadline.timeout(10.0, "guest-exec-status"))
            if st.get("exited"):
                out = base64.b64decode(st.get("out-data", "")).decode(errors="replace")
                return st.get("exitcode"), out
            select.select([], [], [], 0.02)


class Guest:
    """One QEMU started through run-raw.sh, its sockets pre-bound by us."""

    def __init__(self, image_dir, run_dir, deadline, extra=""):
        self.run_dir = run_dir
        self.deadline = deadline
        listeners = {n: listening_socket(os.path.join(run_dir, f"{n}.sock"))
                     for n in ("console", "agent", "qmp")}
        env = dict(os.environ)
        for n, s in listeners.items():
            env[f"QDIRECT_GUEST_FD_{n.upper()}"] = str(s.fileno())
        if extra:
            env["QDIRECT_GUEST_EXTRA"] = extra
        self.log = open(os.path.join(run_dir, "qemu.log"), "wb")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [os.path.join(KIT_DIR, "run-raw.sh"), image_dir, run_dir], env=env,
            pass_fds=[s.fileno() for s in listeners.values()],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        for s in listeners.values():
            s.close()  # QEMU holds its own copies.
        self.console = None
        self.agent = None
        try:
            self.console = Console(os.path.join(run_dir, "console.sock"))
            self.qmp = Qmp(os.path.join(run_dir, "qmp.sock"), deadline.timeout(10.0, "QMP"))
        except Failure as e:
            self.kill()
            raise Failure(f"{e}\n--- qemu log ---\n{self.qemu_log()}") from None

    def wait_marker(self):
        m = self.console.wait_for(MARKER + rb"|Kernel panic[^\n]*",
                                  self.deadline.timeout(30.0, "the boot marker"))
        if m.group(1) is None:
            raise Failure(f"boot: {m.group(0).decode(errors='replace').strip()}")
        return m.group(1).decode(), time.monotonic() - self.started

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.log.close()

    def qemu_log(self):
        with open(os.path.join(self.run_dir, "qemu.log"), "rb") as f:
            return f.read()[-2000:].decode(errors="replace")


def step(name):
    print(f"smoke: {name}", flush=True)


def measure_boots(args, runs, deadline):
    times = []
    for i in range(runs):
        with tempfile.TemporaryDirectory(prefix="qdirect-boot.") as run_dir:
            g = Guest(args.image_dir, run_dir, deadline)
            try:
                _, t = g.wait_marker()
                times.append(t)
                g.qmp.execute("quit")
                g.proc.wait(timeout=deadline.timeout(10.0, "QEMU to quit"))
            finally:
                g.kill()
    return times


def smoke(args, deadline, run_dir):
    fig = {}
    disk = os.path.join(run_dir, "hp0.raw")
    with open(disk, "wb") as f:
        f.truncate(16 << 20)

    g = Guest(args.image_dir, run_dir, deadline)
    try:
        boot_id, fig["boot"] = g.wait_marker()
        step(f"marker boot_id={boot_id} after {fig['boot']:.3f} s")
        marker_at = time.monotonic()
        g.agent = Agent(os.path.join(run_dir, "agent.sock"))
        g.agent.sync(deadline)
        fig["agent_first_sync"] = time.monotonic() - marker_at
        g.console.wait_for(rb"heartbeat 1\r?\n", deadline.timeout(10.0, "heartbeat 1"))
        g.console.wait_for(rb"heartbeat 2\r?\n", deadline.timeout(10.0, "heartbeat 2"))
        step("heartbeat 1, 2 seen")
        g.console.send(b"echo shell-$((6 * 7))\n")
        g.console.wait_for(rb"shell-42\r?\n", deadline.timeout(10.0, "the console shell"))
        step("console shell answers")
        t = time.monotonic()
        g.agent.execute("guest-ping")
        fig["agent_ping"] = time.monotonic() - t
        osinfo = g.agent.execute("guest-get-osinfo")
        if osinfo.get("id") != "qdirect-test-guest" or not osinfo.get("kernel-release"):
            raise Failure(f"agent: guest-get-osinfo: unexpected {osinfo}")
        code, out = g.agent.exec_capture(
            ["/bin/sh", "-c", "cat /proc/sys/kernel/random/boot_id; echo exec-ok"], deadline)
        if code != 0 or out.split() != [boot_id, "exec-ok"]:
            raise Failure(f"agent: guest-exec: exit {code}, output {out!r}")
        step(f"agent: sync {fig['agent_first_sync']:.3f} s after marker, ping "
             f"{fig['agent_ping'] * 1000:.1f} ms, osinfo {osinfo['kernel-release']}, exec ok")

        # The guest restarts a dead agent: kill it from the console shell, sync again.
        g.console.send(b"kill $(pidof qemu-ga)\n")
        g.console.wait_for(rb"QDIRECT-AGENT-EXIT", deadline.timeout(10.0, "the agent to exit"))
        t = time.monotonic()
        g.agent.sync(deadline)
        fig["agent_restart"] = time.monotonic() - t
        step(f"agent restarted: sync again after {fig['agent_restart']:.3f} s")

        t = time.monotonic()
        g.qmp.execute("blockdev-add", {"node-name": "hp0", "driver": "raw",
                                       "file": {"driver": "file", "filename": disk}})
        g.qmp.execute("device_add", {"driver": "virtio-blk-pci", "id": "hp0", "drive": "hp0",
                                     "bus": "pci.2"})
        m = g.console.wait_for(rb"QDIRECT-HOTPLUG add block (vd[a-z]+)\r?\n",
                               deadline.timeout(15.0, "the disk hotplug line"))
        fig["disk_hotplug"] = time.monotonic() - t
        vd = m.group(1).decode()
        code, out = g.agent.exec_capture(["/bin/cat", f"/sys/block/{vd}/size"], deadline)
        if code != 0 or out.strip() != str((16 << 20) // 512):
            raise Failure(f"hotplug: /sys/block/{vd}/size: exit {code}, output {out!r}")
        step(f"disk hotplug: {vd} after {fig['disk_hotplug'] * 1000:.0f} ms, size ok")

        t = time.monotonic()
        g.qmp.execute("device_del", {"id": "hp0"})
        g.qmp.wait_event("DEVICE_DELETED", lambda d: d.get("device") == "hp0",
                         deadline.timeout(15.0, "DEVICE_DELETED hp0"))
        fig["disk_unplug"] = time.monotonic() - t
        g.console.wait_for(rb"QDIRECT-HOTPLUG remove block " + vd.encode() + rb"\r?\n",
                           deadline.timeout(10.0, "the disk removal line"))
        g.qmp.execute("blockdev-del", {"node-name": "hp0"})
        step(f"disk unplug: DEVICE_DELETED after {fig['disk_unplug'] * 1000:.0f} ms")

        if not args.no_net:
            t = time.monotonic()
            g.qmp.execute("netdev_add", {"type": "user", "id": "hn0"})
            g.qmp.execute("device_add", {"driver": "virtio-net-pci", "id": "hn0",
                                         "netdev": "hn0", "bus": "pci.3"})
            m = g.console.wait_for(rb"QDIRECT-HOTPLUG add net (\S+)\r?\n",
                                   deadline.timeout(15.0, "the NIC hotplug line"))
            nic = m.group(1).decode()
            m = g.console.wait_for(rb"QDIRECT-NET " + nic.encode() + rb" (\S+)\r?\n",
                                   deadline.timeout(20.0, "a DHCP lease on the NIC"))
            fig["nic_hotplug_dhcp"] = time.monotonic() - t
            step(f"NIC hotplug: {nic} up, DHCP {m.group(1).decode()} after "
                 f"{fig['nic_hotplug_dhcp'] * 1000:.0f} ms")

        t = time.monotonic()
        g.qmp.execute("system_powerdown")
        ev = g.qmp.wait_event("SHUTDOWN", None, deadline.timeout(15.0, "SHUTDOWN"))
        g.proc.wait(timeout=deadline.timeout(15.0, "QEMU to exit"))
        fig["powerdown_exit"] = time.monotonic() - t
        # The guest itself must have powered off (its power-button handler ran).
        if ev.get("data", {}).get("reason") != "guest-shutdown":
            raise Failure(f"powerdown: SHUTDOWN {ev.get('data')}, expected reason guest-shutdown")
        g.console.wait_for(rb"QDIRECT-GUEST-POWEROFF", deadline.timeout(5.0, "the poweroff line"))
        if g.proc.returncode != 0:
            raise Failure(f"qemu exited with status {g.proc.returncode} after powerdown")
        step(f"powerdown: QEMU exited after {fig['powerdown_exit']:.3f} s")
        return fig, g.console.tail(1 << 20)
    except Failure as e:
        raise Failure(f"{e}\n--- console tail ---\n{g.console.tail()}\n"
                      f"--- qemu log ---\n{g.qemu_log()}") from None
    finally:
        g.kill()


def coldplug(args, deadline, run_dir):
    """A disk and (unless --no-net) a NIC given at start, as testvm-full.yaml has."""
    disk = os.path.join(run_dir, "cold0.raw")
    with open(disk, "wb") as f:
        f.truncate(8 << 20)
    devices = [
        {"node-name": "cold0", "driver": "raw", "file": {"driver": "file", "filename": disk}},
        {"driver": "virtio-blk-pci", "id": "cold0", "drive": "cold0", "bus": "pci.2"},
    ]
    if not args.no_net:
        devices += [{"type": "user", "id": "coldnet0"},
                    {"driver": "virtio-net-pci", "id": "coldnet0", "netdev": "coldnet0",
                     "bus": "pci.3"}]
    opts = ["-blockdev", "-device", "-netdev", "-device"]
    extra = " ".join(f"{o} {json.dumps(d, separators=(',', ':'))}" for o, d in zip(opts, devices))
    g = Guest(args.image_dir, run_dir, deadline, extra)
    try:
        g.wait_marker()
        # Drivers load before the marker, so the disk is there as soon as it shows.
        g.console.send(b"echo cold-$(cat /sys/block/vda/size)\n")
        g.console.wait_for(rb"cold-%d\r?\n" % ((8 << 20) // 512),
                           deadline.timeout(10.0, "the cold-plugged disk"))
        if not args.no_net:
            # The lease may have shown before the line waited for above.
            net = rb"QDIRECT-NET eth0 (\S+)\r?\n"
            m = re.search(net, g.console.seen) or g.console.wait_for(
                net, deadline.timeout(20.0, "a DHCP lease on the cold-plugged NIC"))
            step(f"cold plug: vda present at the marker, eth0 DHCP {m.group(1).decode()}")
        else:
            step("cold plug: vda present at the marker")
        # guest-shutdown runs /sbin/shutdown in the guest (the kit's script).
        g.agent = Agent(os.path.join(run_dir, "agent.sock"))
        g.agent.sync(deadline)
        g.agent.send(json.dumps({"execute": "guest-shutdown"}).encode() + b"\n")
        ev = g.qmp.wait_event("SHUTDOWN", None, deadline.timeout(15.0, "SHUTDOWN"))
        if ev.get("data", {}).get("reason") != "guest-shutdown":
            raise Failure(f"guest-shutdown: SHUTDOWN {ev.get('data')}, "
                          "expected reason guest-shutdown")
        g.proc.wait(timeout=deadline.timeout(15.0, "QEMU to exit"))
        step("agent guest-shutdown: QEMU exited")
    except Failure as e:
        raise Failure(f"{e}\n--- console tail ---\n{g.console.tail()}\n"
                      f"--- qemu log ---\n{g.qemu_log()}") from None
    finally:
        g.kill()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--image-dir",
                    default=os.environ.get("QDIRECT_IMAGE_DIR") or "/var/lib/qdirect/images",
                    help="image store holding qdirect_test-guest "
                         "(default: $QDIRECT_IMAGE_DIR, else /var/lib/qdirect/images)")
    ap.add_argument("--build", action="store_true",
                    help="run build.sh IMAGE_DIR first (quick when the image is up to date)")
    ap.add_argument("--boot-runs", type=int, default=0,
                    help="extra boots to time exec -> marker (p50 printed)")
    ap.add_argument("--deadline", type=float, default=120.0, help="overall limit in seconds")
    ap.add_argument("--show-console", action="store_true", help="print the console at the end")
    ap.add_argument("--no-net", action="store_true", help="skip the NIC hotplug step")
    args = ap.parse_args()

    if args.build:
        r = subprocess.run([os.path.join(KIT_DIR, "build.sh"), args.image_dir])
        if r.returncode != 0:
            print(f"smoke: FAIL: tests/guest/build.sh {args.image_dir} exited {r.returncode}",
                  file=sys.stderr)
            return 1
    boot = os.path.join(args.image_dir, "qdirect_test-guest", "boot")
    for f in ("vmlinuz", "initrd.img"):
        if not os.path.isfile(os.path.join(boot, f)):
            print(f"smoke: FAIL: {boot}/{f} missing (run tests/guest/build.sh {args.image_dir})",
                  file=sys.stderr)
            return 1
    deadline = Deadline(args.deadline)
    try:
        with tempfile.TemporaryDirectory(prefix="qdirect-smoke.") as run_dir:
            fig, console = smoke(args, deadline, run_dir)
        if args.show_console:
            print(console)
        with tempfile.TemporaryDirectory(prefix="qdirect-smoke.") as run_dir:
            coldplug(args, deadline, run_dir)
        if args.boot_runs:
            times = [fig["boot"]] + measure_boots(args, args.boot_runs, deadline)
            step("boot exec->marker: " + " ".join(f"{t:.3f}" for t in times) +
                 f" s; p50 {statistics.median(times):.3f} s")
    except Failure as e:
        print(f"smoke: FAIL: {e}", file=sys.stderr)
        return 1
    print("smoke: OK " + " ".join(f"{k}={v:.3f}s" for k, v in fig.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
