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
import subprocess
import sys
import time
import unittest

import vmctl_harness

MANIFEST = None


class VmctlMigrateTest(vmctl_harness.VmctlTestCase):
    BUDGET = 240
    NAME = "testvm"

    def wait_findall(self, pattern):
        """Every match of pattern in the console log, once there is one."""
        return re.findall(pattern, self.wait_console(pattern).string)

    def wait(self, what, predicate):
        while not predicate():
            if time.monotonic() > self.deadline:
                self.fail(f"timed out waiting for {what}")

    def heartbeat(self):
        return int(self.wait_findall(r"heartbeat (\d+)\n")[-1])

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
        slow = subprocess.Popen([self.VMCTL, "migrate", "testvm", "--bandwidth", "1"],
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
    vmctl_harness.VmctlTestCase.VMCTL, MANIFEST = sys.argv[1], sys.argv[2]
    unittest.main(argv=sys.argv[:1], verbosity=2)
