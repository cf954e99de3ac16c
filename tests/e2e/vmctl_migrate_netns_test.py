#!/usr/bin/env python3
"""Live migration over TCP between two "hosts": two network namespaces joined
by a veth pair, each with its own runtime root. `vmctl receive --listen` waits
in one, `vmctl migrate --to tcp:...` sends from the other; the guest keeps
counting its heartbeat on the receiving side.

usage: vmctl_migrate_netns_test.py VMCTL MANIFEST
Needs root and iproute2 (skipped, exit 77, without them). Boots
examples/testvm.yaml under TCG. Waits poll with a deadline; no sleeps.
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

import vmctl_harness

VMCTL = MANIFEST = None
BUDGET = 200
PORT = 4444


def ip(*args):
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


class NetnsMigrateTest(unittest.TestCase):
    def setUp(self):
        tag = os.getpid() % 100000
        self.ns = {"a": f"qdma{tag}", "b": f"qdmb{tag}"}
        self.addr = {"a": "10.231.7.1", "b": "10.231.7.2"}
        self.roots = {}
        for host in "ab":
            self.roots[host] = tempfile.mkdtemp(prefix=f"qdmn{host}-")
            os.chmod(self.roots[host], 0o755)
            ip("netns", "add", self.ns[host])
        ip("link", "add", f"qdva{tag}", "type", "veth", "peer", "name", f"qdvb{tag}")
        for host in "ab":
            dev = f"qdv{host}{tag}"
            ip("link", "set", dev, "netns", self.ns[host])
            ip("-n", self.ns[host], "addr", "add", f"{self.addr[host]}/24", "dev", dev)
            ip("-n", self.ns[host], "link", "set", dev, "up")
            ip("-n", self.ns[host], "link", "set", "lo", "up")
        self.deadline = time.monotonic() + BUDGET

    def tearDown(self):
        for host in "ab":
            for pid in vmctl_harness.launcher_pids(self.roots[host]):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            subprocess.run(["ip", "netns", "del", self.ns[host]], capture_output=True)
            shutil.rmtree(self.roots[host], ignore_errors=True)

    def env(self, host):
        env = dict(os.environ, QDIRECT_RUNTIME_DIR=self.roots[host], QDIRECT_ACCEL="tcg")
        env.pop("QDIRECT_LAUNCHER", None)
        return env

    def argv(self, host, *args):
        return ["ip", "netns", "exec", self.ns[host], VMCTL, *args]

    def vmctl(self, host, *args, check=None):
        left = max(1.0, self.deadline - time.monotonic())
        result = subprocess.run(self.argv(host, *args), env=self.env(host),
                                stdin=subprocess.DEVNULL, capture_output=True,
                                text=True, errors="replace", timeout=left)
        if check is not None:
            self.assertEqual(result.returncode, check,
                             f"vmctl {' '.join(args)}: {result.stdout}{result.stderr}")
        return result

    def heartbeat(self, host):
        while True:
            log = self.vmctl(host, "console", "testvm", "--log", check=0).stdout
            beats = re.findall(r"heartbeat (\d+)\n", log)
            if beats:
                return int(beats[-1])
            if time.monotonic() > self.deadline:
                self.fail(f"no heartbeat on host {host}:\n{log[-2000:]}")

    def test_tcp_between_namespaces(self):
        uri = f"tcp:{self.addr['b']}:{PORT}"
        receiver = subprocess.Popen(
            self.argv("b", "receive", MANIFEST, "--listen", uri, "--parallel", "2"),
            env=self.env("b"),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        try:
            line = receiver.stdout.readline()
            self.assertIn(f"waiting for a migration on {uri}", line,
                          receiver.stderr.read() if not line else line)
            self.vmctl("a", "start", MANIFEST, check=0)
            before = self.heartbeat("a")
            moved = self.vmctl("a", "migrate", "testvm", "--to", uri, "--parallel", "2",
                               check=0)
            self.assertIn(f"migrated to {uri}", moved.stdout)
            out, err = receiver.communicate(timeout=max(1, self.deadline - time.monotonic()))
            self.assertEqual(receiver.returncode, 0, out + err)
            self.assertIn("received: running", out)
        finally:
            if receiver.poll() is None:
                receiver.kill()
        status = json.loads(self.vmctl("b", "status", "testvm", "--json", check=0).stdout)
        self.assertEqual(status["phase"], "Running")
        self.assertTrue(status["migrationState"]["completed"])
        # The source host is empty; the guest counts on past `before`.
        self.assertEqual(self.vmctl("a", "list", check=0).stdout, "")
        while self.heartbeat("b") <= before:
            if time.monotonic() > self.deadline:
                self.fail("heartbeat did not go on on the receiving host")
        self.vmctl("b", "stop", "testvm", check=0)


if __name__ == "__main__":
    if os.geteuid() != 0 or shutil.which("ip") is None:
        print("skipped: needs root and iproute2")
        sys.exit(77)
    VMCTL, MANIFEST = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    unittest.main(argv=sys.argv[:1], verbosity=2)
