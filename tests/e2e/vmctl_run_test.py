#!/usr/bin/env python3
"""`vmctl run` boots the example VMI in the foreground and stops on SIGTERM.

usage: vmctl_run_test.py VMCTL MANIFEST
The console must show the guest's marker on stdout; SIGTERM must shut the
guest down over ACPI (exit 0: Succeeded) and leave no runtime dir behind.
Reads stdout with a deadline; never sleeps to synchronise.
"""

import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time

VMCTL, MANIFEST = sys.argv[1:3]
DEADLINE = time.monotonic() + 150


def fail(message, output=b""):
    print(f"FAIL: {message}\n--- output ---\n{output.decode(errors='replace')[-3000:]}",
          file=sys.stderr)
    sys.exit(1)


def read_until(proc, pattern, seen):
    while not re.search(pattern, seen):
        left = DEADLINE - time.monotonic()
        if left <= 0:
            fail(f"{pattern!r} not seen on stdout", seen)
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                fail(f"vmctl exited ({proc.wait()}) before {pattern!r}", seen)
            seen += chunk
    return seen


with tempfile.TemporaryDirectory(prefix="qdirect-run-") as runtime:
    # As root QEMU runs as an unprivileged uid that must reach its VM dir
    # through the runtime root, as it does through /run/qdirect (0755).
    os.chmod(runtime, 0o755)
    env = dict(os.environ, QDIRECT_RUNTIME_DIR=runtime, QDIRECT_ACCEL="tcg")
    proc = subprocess.Popen([VMCTL, "run", MANIFEST], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        seen = read_until(proc, rb"QDIRECT-GUEST-UP boot_id=[0-9a-f-]{36}", b"")
        # The guest's power-button watcher starts with its heartbeat loop.
        seen = read_until(proc, rb"heartbeat 2\b", seen)
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=max(1, DEADLINE - time.monotonic()))
        except subprocess.TimeoutExpired:
            fail("vmctl run did not stop after SIGTERM", seen)
        seen += proc.stdout.read()
        if code != 0:
            fail(f"vmctl run exited {code}, want 0 (Succeeded)", seen)
        leftovers = os.listdir(runtime)
        if leftovers:
            fail(f"runtime root not clean: {leftovers}", seen)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
print("PASS")

# --until: the VM stops by itself once the console shows the pattern.
with tempfile.TemporaryDirectory(prefix="qdirect-run-") as runtime:
    os.chmod(runtime, 0o755)
    env = dict(os.environ, QDIRECT_RUNTIME_DIR=runtime, QDIRECT_ACCEL="tcg")
    try:
        result = subprocess.run([VMCTL, "run", MANIFEST, "--until", "heartbeat 2"],
                                stdin=subprocess.DEVNULL, capture_output=True,
                                env=env, timeout=max(1, DEADLINE - time.monotonic()))
    except subprocess.TimeoutExpired as e:
        fail("vmctl run --until did not stop by itself", e.stdout or b"")
    if result.returncode != 0 or b"heartbeat 2" not in result.stdout:
        fail(f"vmctl run --until exited {result.returncode}", result.stdout + result.stderr)
    if os.listdir(runtime):
        fail(f"runtime root not clean: {os.listdir(runtime)}")
print("PASS --until")
