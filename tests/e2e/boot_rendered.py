#!/usr/bin/env python3
"""Boots a VMI from exactly the argv `vmctl render --json` prints.

Proves the rendered command line boots: the launcher's side is played by this
script (bind the QMP, console and agent sockets and pass each at the fd the
argv names, `cont` over QMP), then it waits
for a console pattern under a deadline, powers the guest off over ACPI and
checks QEMU exits. Used by the e2e suite; stdlib only.

usage: boot_rendered.py --vmctl PATH --manifest FILE --expect REGEX [--deadline S]
"""

import argparse
import json
import os
import re
import select
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "guest"))
import rendered_listeners  # noqa: E402


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


class Qmp:
    def __init__(self, path, deadline):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.file = self.sock.makefile("rwb")
        self.deadline = deadline
        self.events = []
        greeting = self.read()
        if "QMP" not in greeting:
            fail(f"qmp: no greeting: {greeting}")
        self.command("qmp_capabilities")

    def read(self):
        self.sock.settimeout(max(0.01, self.deadline - time.monotonic()))
        line = self.file.readline()
        if not line:
            fail("qmp: connection closed")
        return json.loads(line)

    def command(self, name, **arguments):
        message = {"execute": name, "id": name}
        if arguments:
            message["arguments"] = arguments
        self.file.write(json.dumps(message).encode() + b"\n")
        self.file.flush()
        while True:
            reply = self.read()
            if "event" in reply:
                self.events.append(reply)
                continue
            if "error" in reply:
                fail(f"qmp: {name}: {reply['error']}")
            return reply.get("return")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--vmctl", required=True)
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--expect", required=True)
    parser.add_argument("--deadline", type=float, default=90)
    args = parser.parse_args()
    deadline = time.monotonic() + args.deadline

    with tempfile.TemporaryDirectory(prefix="qdirect-e2e-") as runtime:
        env = dict(os.environ, QDIRECT_RUNTIME_DIR=runtime)
        rendered = subprocess.run(
            [args.vmctl, "render", args.manifest, "--json"],
            env=env, capture_output=True, text=True)
        if rendered.returncode != 0:
            fail(f"vmctl render: exit {rendered.returncode}: {rendered.stderr}")
        argv = json.loads(rendered.stdout)
        vm_dir = tempfile.mkdtemp(prefix="vm-", dir=runtime)
        paths, fds = rendered_listeners.bind(argv, vm_dir)
        for name in ("qmp", "console", "agent"):
            if name not in paths:
                fail(f"rendered argv has no {name} chardev on a passed fd")
        qmp_path, console_path = paths["qmp"], paths["console"]
        log = open(os.path.join(vm_dir, "qemu.log"), "wb")
        qemu = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            pass_fds=fds)
        for fd in fds:
            os.close(fd)  # QEMU holds them now
        try:
            qmp = Qmp(qmp_path, deadline)
            status = qmp.command("query-status")
            if status["status"] != "prelaunch":
                fail(f"expected prelaunch under -S, got {status}")
            console = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            console.connect(console_path)
            qmp.command("cont")
            seen = b""
            pattern = re.compile(args.expect.encode())
            while not pattern.search(seen):
                left = deadline - time.monotonic()
                if left <= 0:
                    fail(f"console: {args.expect!r} not seen; last output: "
                         f"{seen[-2000:].decode(errors='replace')}")
                ready, _, _ = select.select([console], [], [], left)
                if ready:
                    chunk = console.recv(65536)
                    if not chunk:
                        fail("console closed before the pattern")
                    seen += chunk
            print(pattern.search(seen).group(0).decode())
            # The plan runs QEMU with -no-shutdown: a guest poweroff stops
            # the VM with a SHUTDOWN event and the monitor decides to quit.
            qmp.command("system_powerdown")
            while not any(e["event"] == "SHUTDOWN" for e in qmp.events):
                if time.monotonic() >= deadline:
                    fail("guest did not power off after system_powerdown")
                reply = qmp.read()
                if "event" in reply:
                    qmp.events.append(reply)
            shutdown = next(e for e in qmp.events if e["event"] == "SHUTDOWN")
            if not shutdown["data"].get("guest"):
                fail(f"SHUTDOWN not initiated by the guest: {shutdown}")
            qmp.command("quit")
            try:
                qemu.wait(timeout=max(1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                fail("qemu did not exit after quit")
            if qemu.returncode != 0:
                fail(f"qemu exited {qemu.returncode}")
        finally:
            if qemu.poll() is None:
                qemu.kill()
                qemu.wait()
            log.close()
    print("PASS")


if __name__ == "__main__":
    main()
