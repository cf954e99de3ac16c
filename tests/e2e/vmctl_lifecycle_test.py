#!/usr/bin/env python3
"""`vmctl start` runs a VM in the background under qdirect-launcher; the other
vmctl commands manage it through the launcher's control socket.

usage: vmctl_lifecycle_test.py VMCTL MANIFEST
Boots examples/testvm.yaml under TCG in a private runtime root. Every wait
polls a command for a pattern with a deadline; nothing sleeps to synchronise.
Prints the launcher's resident memory (VmRSS) while the VM runs.
"""

import json
import os
import re
import socket
import sys
import unittest

import vmctl_harness

MANIFEST = None


class VmctlLifecycleTest(vmctl_harness.VmctlTestCase):
    # TCG boot to the marker takes seconds; the whole lifecycle well under this.
    BUDGET = 170
    NAME = "testvm"

    def control_exchange(self, lines):
        """Raw lines to the control socket; the answer line to each."""
        path = os.path.join(self.runtime, "default_testvm", "control.sock")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(30)
            s.connect(path)
            answers = []
            buffered = b""
            for line in lines:
                s.sendall(line + b"\n")
                while b"\n" not in buffered:
                    chunk = s.recv(65536)
                    self.assertTrue(chunk, "launcher closed the control connection")
                    buffered += chunk
                answer, buffered = buffered.split(b"\n", 1)
                answers.append(json.loads(answer))
            return answers

    def test_background_lifecycle(self):
        started = self.vmctl("start", MANIFEST, check=0)
        pid = re.search(r"launcher pid (\d+)", started.stdout)
        self.assertIsNotNone(pid, started.stdout)
        pid = int(pid.group(1))
        # vmctl has exited; the VM runs on.
        self.assertEqual(self.vmctl("list", check=0).stdout, "default/testvm Running\n")

        self.wait_console(r"QDIRECT-GUEST-UP boot_id=[0-9a-f-]{36}")
        status = self.status()
        self.assertEqual(status["phase"], "Running")
        self.assertEqual(self.condition(status, "Ready"), "True")
        self.assertNotIn("qdirect", status)

        with open(f"/proc/{pid}/status") as f:
            proc_status = f.read()
        rss, anon = (re.search(rf"{key}:\s+(\d+) kB", proc_status).group(1)
                     for key in ("VmRSS", "RssAnon"))
        with open(f"/proc/{pid}/smaps_rollup") as f:
            pss = re.search(r"Pss:\s+(\d+) kB", f.read()).group(1)
        print(f"\nlauncher while the VM runs: VmRSS {rss} kB (RssAnon {anon} kB),"
              f" Pss {pss} kB", file=sys.stderr)

        # Malformed requests get an error answer and the connection serves on.
        answers = self.control_exchange(
            [b"{not json", b'{"request":"reboot"}', b'{"request":"status"}'])
        self.assertEqual(answers[0]["error"]["code"], "INVALID_ARGUMENT")
        self.assertIn("reboot", answers[1]["error"]["message"])
        self.assertEqual(answers[2]["status"]["phase"], "Running")

        self.vmctl("pause", "testvm", check=0)
        self.assertEqual(self.condition(self.status(), "Paused"), "True")
        self.vmctl("unpause", "testvm", check=0)
        self.assertNotEqual(self.condition(self.status(), "Paused"), "True")

        with self.subTest("qmp passthrough"):
            qmp = self.vmctl("qmp", "testvm", '{"execute":"query-status"}')
            self.assertEqual(qmp.returncode, 0, qmp.stderr)
            self.assertEqual(json.loads(qmp.stdout)["status"], "running")

        with self.subTest("stats"):
            stats = json.loads(self.vmctl("stats", "testvm", check=0).stdout)
            self.assertEqual(len(stats["vcpus"]), 1)
            self.assertGreater(stats["vcpus"][0]["cpuSeconds"], 0)
            self.assertGreater(stats["memory"]["qemuRssBytes"], 0)
            self.assertEqual(stats["memory"]["balloonActualBytes"], 128 << 20)

        with self.subTest("soft reboot"):
            # qemu-ga answers by now or soon; either way the guest reboots
            # (agent, else ACPI) and boots a second time while Running.
            self.wait_console(r"heartbeat 2\b")
            rebooted = self.vmctl("soft-reboot", "testvm", check=0)
            self.assertIn("Running", rebooted.stdout)
            log = self.wait_console(r"(?s)QDIRECT-GUEST-UP.*QDIRECT-GUEST-UP").string
            ids = re.findall(r"QDIRECT-GUEST-UP boot_id=([0-9a-f-]{36})", log)
            self.assertEqual(len(set(ids)), len(ids), ids)
            self.assertEqual(self.status()["phase"], "Running")

        again = self.vmctl("start", MANIFEST)
        self.assertNotEqual(again.returncode, 0, again.stdout)
        self.assertIn("already", again.stderr)
        self.assertEqual(self.status()["phase"], "Running")
        self.assertEqual(self.vmctl("list", check=0).stdout, "default/testvm Running\n")

        # The guest's power-button watcher starts with its heartbeat (the
        # second boot's too).
        self.wait_console(r"(?s)QDIRECT-GUEST-UP.*QDIRECT-GUEST-UP.*heartbeat 2\b")
        stopped = self.vmctl("stop", "testvm", check=0)
        self.assertIn("Succeeded", stopped.stdout)
        self.assertEqual(self.vmctl("list", check=0).stdout, "")
        self.assertFalse(os.path.exists(os.path.join(self.runtime, "default_testvm")))
        self.assertEqual(self.vmctl("status", "testvm").returncode, 3)

    def test_missing_vm_is_not_found(self):
        for command in (["status", "nosuchvm"], ["stop", "nosuchvm"],
                        ["console", "other/nosuchvm", "--log"]):
            result = self.vmctl(*command)
            self.assertEqual(result.returncode, 3, result.stderr)
            self.assertIn("not found", result.stderr)


if __name__ == "__main__":
    vmctl_harness.VmctlTestCase.VMCTL, MANIFEST = sys.argv[1:3]
    unittest.main(argv=sys.argv[:1], verbosity=2)
