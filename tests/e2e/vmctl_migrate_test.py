#!/usr/bin/env python3
"""`vmctl migrate` moves a background VM to a new launcher on this host (the
VM keeps its name), `vmctl migrate-cancel` stops a slow one, and a migration
to nowhere leaves the VM running.

usage: vmctl_migrate_test.py VMCTL MANIFEST
Boots examples/testvm.yaml under TCG in a private runtime root. Every wait
polls a command for a pattern with a deadline; nothing sleeps to synchronise.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

VMCTL = MANIFEST = None
BUDGET = 240


def launcher_pids(runtime):
    pids = []
    needle = f"QDIRECT_RUNTIME_DIR={runtime}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
            if b"qdirect-launcher" not in cmdline.split(b"\0")[0]:
                continue
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    pids.append(int(entry))
        except OSError:
            continue
    return pids


class VmctlMigrateTest(unittest.TestCase):
    def setUp(self):
        self.runtime = tempfile.mkdtemp(prefix="qdmig-")
        os.chmod(self.runtime, 0o755)
        self.env = dict(os.environ, QDIRECT_RUNTIME_DIR=self.runtime,
                        QDIRECT_ACCEL="tcg")
        self.env.pop("QDIRECT_LAUNCHER", None)
        self.deadline = time.monotonic() + BUDGET

    def tearDown(self):
        for pid in launcher_pids(self.runtime):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.runtime, ignore_errors=True)

    def vmctl(self, *args, check=None):
        left = max(1.0, self.deadline - time.monotonic())
        result = subprocess.run([VMCTL, *args], env=self.env, stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, errors="replace",
                                timeout=left)
        if check is not None:
            self.assertEqual(result.returncode, check,
                             f"vmctl {' '.join(args)}: {result.stdout}{result.stderr}")
        return result

    def wait_console(self, pattern):
        while True:
            log = self.vmctl("console", "testvm", "--log", check=0).stdout
            found = re.findall(pattern, log)
            if found:
                return found
            if time.monotonic() > self.deadline:
                self.fail(f"{pattern!r} not in the console log:\n{log[-2000:]}")

    def status(self):
        return json.loads(self.vmctl("status", "testvm", "--json", check=0).stdout)

    def wait(self, what, predicate):
        while not predicate():
            if time.monotonic() > self.deadline:
                self.fail(f"timed out waiting for {what}")

    def heartbeat(self):
        return int(self.wait_console(r"heartbeat (\d+)\n")[-1])

    def test_migrate_locally_twice_then_cancel_and_fail(self):
        self.vmctl("start", MANIFEST, check=0)
        self.wait_console(r"QDIRECT-GUEST-UP boot_id=[0-9a-f-]{36}")
        before = self.heartbeat()
        source_dir = os.path.join(self.runtime, "default_testvm")
        target_dir = os.path.join(self.runtime, ".incoming", "default_testvm")

        # A NIC hot-plugged before the move: the target must have the same
        # layout (the launcher hands it over), or QEMU refuses the stream.
        self.vmctl("addinterface", "testvm", "--name", "extra", "--mac",
                   "02:00:00:00:00:42", check=0)
        self.wait_console(r"QDIRECT-HOTPLUG add net \S+")

        # 1. To a new launcher on this host; the name now reaches it.
        moved = self.vmctl("migrate", "testvm", check=0)
        self.assertRegex(moved.stdout, r"migrated to unix:.*total \d+ ms, downtime \d+ ms")
        self.assertFalse(os.path.exists(source_dir), "source runtime dir left behind")
        self.assertTrue(os.path.exists(os.path.join(target_dir, "control.sock")))
        status = self.status()
        self.assertEqual(status["phase"], "Running")
        self.assertTrue(status["migrationState"]["completed"])
        self.assertEqual(self.vmctl("list", check=0).stdout, "default/testvm Running\n")
        peripherals = json.loads(self.vmctl(
            "qmp", "testvm",
            '{"execute":"qom-list","arguments":{"path":"/machine/peripheral"}}',
            check=0).stdout)
        self.assertIn("ua-extra", [p["name"] for p in peripherals])
        # The guest did not reboot: its heartbeat counts on past the migration.
        self.wait(f"a heartbeat after {before} on the target",
                  lambda: self.heartbeat() > before)
        self.assertNotRegex(self.vmctl("console", "testvm", "--log", check=0).stdout,
                            r"heartbeat 1\n")

        # 2. And back under the first root.
        self.vmctl("migrate", "testvm", "--parallel", "2", check=0)
        self.assertTrue(os.path.exists(os.path.join(source_dir, "control.sock")))
        self.assertFalse(os.path.exists(target_dir))

        # 3. A slow migration, cancelled mid-way: the VM stays here.
        slow = subprocess.Popen([VMCTL, "migrate", "testvm", "--bandwidth", "1"],
                                env=self.env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            def running():
                state = self.status().get("migrationState") or {}
                return ("startTimestamp" in state and not state.get("completed")
                        and not state.get("failed"))
            self.wait("the slow migration to run", running)
            self.vmctl("migrate-cancel", "testvm", check=0)
            out, err = slow.communicate(timeout=60)
        finally:
            if slow.poll() is None:
                slow.kill()
        self.assertNotEqual(slow.returncode, 0, out)
        self.assertIn("cancel", err)
        status = self.status()
        self.assertEqual(status["phase"], "Running")
        self.assertTrue(status["migrationState"]["failed"])
        self.assertTrue(status["migrationState"]["abortRequested"])
        self.assertEqual(status["migrationState"]["abortStatus"], "Succeeded")
        self.wait("the failed target to be gone", lambda: not os.path.exists(target_dir))
        after_cancel = self.heartbeat()
        self.wait("a heartbeat after the cancel", lambda: self.heartbeat() > after_cancel)

        # 4. Nobody listens there: a clear error, the VM runs on.
        failed = self.vmctl("migrate", "testvm", "--to",
                            f"unix:{self.runtime}/nobody.sock")
        self.assertNotEqual(failed.returncode, 0)
        self.assertIn("nobody.sock", failed.stderr)
        self.assertEqual(self.status()["phase"], "Running")
        self.assertEqual(self.vmctl("migrate-cancel", "testvm").returncode, 4)

        # The guest still answers the power button after three moves.
        self.vmctl("stop", "testvm", check=0)


if __name__ == "__main__":
    VMCTL, MANIFEST = sys.argv[1], sys.argv[2]
    unittest.main(argv=sys.argv[:1], verbosity=2)
