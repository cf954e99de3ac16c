"""Shared by the e2e tests that drive background VMs through vmctl (and the
qdirect-launcher it spawns): a TestCase base with a private runtime root, a
deadline for the whole test, vmctl calls, console-log waits and status reads,
and a tearDown that kills every launcher of that root. Stdlib only.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest


def launcher_pids(runtime):
    """Launchers (ours) whose environment names this runtime root."""
    pids = []
    needle = f"QDIRECT_RUNTIME_DIR={runtime}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if b"qdirect-launcher" not in f.read().split(b"\0")[0]:
                    continue
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    pids.append(int(entry))
        except OSError:
            continue
    return pids


class VmctlTestCase(unittest.TestCase):
    """Subclasses set VMCTL (the binary), BUDGET (seconds for the whole
    test) and NAME (the VM the helpers address by default)."""

    VMCTL = None
    BUDGET = 240
    NAME = "testvm"

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="qdirect-e2e-")
        # As root QEMU runs as an unprivileged uid that must traverse the root.
        os.chmod(self.root, 0o755)
        self.runtime = os.path.join(self.root, "run")
        self.env = dict(os.environ, QDIRECT_RUNTIME_DIR=self.runtime, QDIRECT_ACCEL="tcg")
        self.env.pop("QDIRECT_LAUNCHER", None)
        self.deadline = time.monotonic() + self.BUDGET

    def tearDown(self):
        for pid in launcher_pids(self.runtime):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)

    def vmctl(self, *args, check=None):
        left = max(1.0, self.deadline - time.monotonic())
        result = subprocess.run([self.VMCTL, *args], env=self.env, stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, errors="replace", timeout=left)
        if check is not None:
            self.assertEqual(result.returncode, check,
                             f"vmctl {' '.join(args)}: {result.stdout}{result.stderr}")
        return result

    def console_log(self, name=None):
        return self.vmctl("console", name or self.NAME, "--log", check=0).stdout

    def wait_console(self, pattern, after=0, name=None):
        """The match of pattern in the console log beyond offset `after`,
        polled until the test's deadline."""
        regex = re.compile(pattern)
        while True:
            log = self.console_log(name)
            m = regex.search(log, after)
            if m:
                return m
            if time.monotonic() > self.deadline:
                self.fail(f"{pattern!r} not in the console log:\n{log[-2000:]}")

    def status(self, name=None):
        return json.loads(self.vmctl("status", name or self.NAME, "--json", check=0).stdout)

    @staticmethod
    def condition(status, kind):
        for c in status.get("conditions") or []:
            if c["type"] == kind:
                return c["status"]
        return None
