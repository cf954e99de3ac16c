#!/usr/bin/env python3
"""Exec -> QMP ready and exec -> guest console marker: vmctl vs raw QEMU
with the same argv.

usage: benchmarks/boot_compare.py [--vmctl build/tools/vmctl/vmctl] [--runs 5]
       [--manifest examples/testvm.yaml]

Both sides boot the test guest under TCG (QDIRECT_ACCEL=tcg) and are timed
from just before exec to the `QDIRECT-GUEST-UP` line, alternating runs so
machine noise hits both. The raw side execs exactly the argv `vmctl render
--json` prints, with its QMP, console and agent listeners pre-bound at the
fds it names (tests/guest/rendered_listeners.py) and a script sending
`cont` (what the launcher does); the vmctl side is `vmctl run --until`, which
also plans, creates files, drops privileges and runs the sandbox.
QMP ready: the raw side stops its clock when `qmp_capabilities` answers;
the vmctl side is `vmctl start` of the same VMI with `startStrategy: Paused`,
which returns once its launcher has planned, spawned QEMU, connected QMP
(greeting, capabilities), the console and its status events, and reported
back to vmctl: everything up to QMP ready, plus vmctl and the launcher.
Prints p50/min per side and the ratio. A benchmark, not a test: it asserts
nothing.
"""

import argparse
import json
import os
import pathlib
import re
import select
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "guest"))
import rendered_listeners  # noqa: E402

MARKER = re.compile(rb"QDIRECT-GUEST-UP boot_id=[0-9a-f-]{36}")


def wait_marker(read, fileobj, deadline):
    seen = b""
    while not MARKER.search(seen):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(seen[-500:])
        ready, _, _ = select.select([fileobj], [], [], left)
        if ready:
            chunk = read()
            if not chunk:
                raise EOFError(seen[-500:])
            seen += chunk


def run_vmctl(vmctl, manifest, env):
    start = time.monotonic()
    proc = subprocess.Popen([vmctl, "run", manifest, "--until", "QDIRECT-GUEST-UP"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env)
    wait_marker(lambda: os.read(proc.stdout.fileno(), 65536), proc.stdout, start + 120)
    elapsed = time.monotonic() - start
    proc.wait(timeout=120)
    return elapsed


def run_vmctl_paused(vmctl, manifest, name, env):
    start = time.monotonic()
    subprocess.run([vmctl, "start", manifest], stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, env=env, check=True)
    elapsed = time.monotonic() - start
    subprocess.run([vmctl, "kill", name], stdout=subprocess.DEVNULL, env=env, check=True)
    return elapsed


def run_raw(argv, runtime, until_qmp=False):
    vm_dir = tempfile.mkdtemp(prefix="raw-", dir=runtime)
    paths, fds = rendered_listeners.bind(argv, vm_dir)
    start = time.monotonic()
    qemu = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, pass_fds=fds)
    for fd in fds:
        os.close(fd)  # QEMU holds them now
    try:
        qmp = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        qmp.connect(paths["qmp"])
        f = qmp.makefile("rwb")
        f.readline()
        for cmd in ("qmp_capabilities", "cont"):
            f.write(json.dumps({"execute": cmd}).encode() + b"\n")
            f.flush()
            while "return" not in json.loads(f.readline()):
                pass
            if until_qmp:
                return time.monotonic() - start
        console = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        console.connect(paths["console"])
        wait_marker(lambda: console.recv(65536), console, start + 120)
        return time.monotonic() - start
    finally:
        qemu.kill()
        qemu.wait()
        shutil.rmtree(vm_dir, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--vmctl", default="build/tools/vmctl/vmctl")
    parser.add_argument("--manifest", default="examples/testvm.yaml")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    marker = {"raw": [], "vmctl": []}
    qmp = {"raw": [], "vmctl": []}
    with tempfile.TemporaryDirectory(prefix="qdirect-bench-") as runtime:
        os.chmod(runtime, 0o755)
        env = dict(os.environ, QDIRECT_RUNTIME_DIR=runtime, QDIRECT_ACCEL="tcg")
        argv = json.loads(subprocess.run([args.vmctl, "render", args.manifest, "--json"],
                                         env=env, check=True, capture_output=True).stdout)
        text = pathlib.Path(args.manifest).read_text()
        name = re.search(r"^  name: (\S+)$", text, re.M).group(1)
        paused = os.path.join(runtime, "paused.yaml")
        pathlib.Path(paused).write_text(
            re.sub(r"^spec:\n", "spec:\n  startStrategy: Paused\n", text, count=1, flags=re.M))
        for _ in range(args.runs):
            qmp["raw"].append(run_raw(argv, runtime, until_qmp=True))
            qmp["vmctl"].append(run_vmctl_paused(args.vmctl, paused, name, env))
        for _ in range(args.runs):
            marker["raw"].append(run_raw(argv, runtime))
            marker["vmctl"].append(run_vmctl(args.vmctl, args.manifest, env))
    for what, results, vmctl_side in (("exec->QMP ready", qmp, "vmctl start (Paused)"),
                                      ("exec->marker", marker, "vmctl run")):
        for side, times in results.items():
            label = vmctl_side if side == "vmctl" else "raw QEMU"
            print(f"{what:16s} {label:21s} p50 {statistics.median(times)*1000:7.1f} ms"
                  f"  min {min(times)*1000:7.1f} ms  ({len(times)} runs)")
        ratio = statistics.median(results["vmctl"]) / statistics.median(results["raw"])
        delta = (statistics.median(results["vmctl"]) - statistics.median(results["raw"])) * 1000
        print(f"{what:16s} vmctl/raw p50 ratio {ratio:.3f}  (vmctl adds {delta:+.1f} ms)")

if __name__ == "__main__":
    main()
