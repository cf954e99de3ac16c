#!/usr/bin/env python3
"""vmctl's hotplug commands against a background VM (qdirect-launcher):
addvolume/removevolume, addinterface/setlink/removeinterface, scale
--sockets/--memory, changemedia, and their refusals.

usage: vmctl_hotplug_test.py VMCTL MANIFEST
Boots examples/testvm.yaml (with maxSockets 2 and maxGuest 256Mi added) under
TCG in a private runtime root. The guest prints "QDIRECT-HOTPLUG add|remove
block|net|cpu NAME" on its console; waits poll `vmctl console --log` for a
pattern with a deadline, nothing sleeps to synchronise.
"""

import json
import os
import sys
import unittest

import vmctl_harness

MANIFEST = None


class VmctlHotplugTest(vmctl_harness.VmctlTestCase):
    BUDGET = 240
    NAME = "hpvmctl"

    def setUp(self):
        super().setUp()
        self.disks = os.path.join(self.root, "disks")
        os.mkdir(self.disks, 0o755)
        self.env["QDIRECT_ALLOWED_ROOTS"] = self.disks
        with open(MANIFEST) as f:
            text = f.read()
        text = text.replace("  name: testvm\n", f"  name: {self.NAME}\n")
        text = text.replace("      cores: 1\n", "      cores: 1\n      maxSockets: 2\n")
        text = text.replace("      guest: 128Mi\n", "      guest: 128Mi\n      maxGuest: 256Mi\n")
        text = text.replace("      autoattachGraphicsDevice: false\n",
                            "      autoattachGraphicsDevice: false\n"
                            "      disks:\n      - name: cd\n        cdrom:\n          bus: scsi\n")
        first = os.path.join(self.disks, "first.iso")
        with open(first, "wb") as f:
            f.write(b"QDIRECT-MEDIA-0".ljust(64 << 10, b"\0"))
        os.chmod(first, 0o666)
        text += f"  volumes:\n  - name: cd\n    hostDisk:\n      path: {first}\n      type: Disk\n"
        self.assertIn("cdrom", text)
        self.assertIn("maxSockets", text)
        self.assertIn("maxGuest", text)
        self.manifest = os.path.join(self.root, "vm.yaml")
        with open(self.manifest, "w") as f:
            f.write(text)

    def console_len(self):
        return len(self.console_log())

    def test_hotplug_commands(self):
        self.vmctl("start", self.manifest, check=0)
        self.wait_console(r"QDIRECT-GUEST-UP boot_id=")

        disk = os.path.join(self.disks, "data.img")
        with open(disk, "wb") as f:
            f.truncate(8 << 20)
        os.chmod(disk, 0o666)

        with self.subTest("addvolume"):
            mark = self.console_len()
            added = self.vmctl("addvolume", self.NAME, "--volume-name", "data", "--disk", disk,
                               "--serial", "VMCTL1", check=0)
            self.assertIn("volume data hotplug done (ua-data)", added.stdout)
            vd = self.wait_console(r"QDIRECT-HOTPLUG add block (vd[a-z]+)\r?\n", mark).group(1)
            volumes = self.status().get("volumeStatus") or []
            self.assertEqual([(v["name"], v["phase"]) for v in volumes], [("data", "Ready")])
            self.assertIn("hotplugVolume", volumes[0])

            again = self.vmctl("addvolume", self.NAME, "--volume-name", "data", "--disk", disk)
            self.assertEqual(again.returncode, 4, again.stderr)
            self.assertIn("already", again.stderr)
            bad_bus = self.vmctl("addvolume", self.NAME, "--volume-name", "x", "--disk", disk,
                                 "--bus", "sata")
            self.assertEqual(bad_bus.returncode, 1, bad_bus.stderr)
            self.assertIn("bus", bad_bus.stderr)
            usage = self.vmctl("addvolume", self.NAME, "--disk", disk)
            self.assertEqual(usage.returncode, 2)

        with self.subTest("removevolume"):
            mark = self.console_len()
            removed = self.vmctl("removevolume", self.NAME, "data", check=0)
            self.assertIn("done (ua-data)", removed.stdout)
            self.wait_console(rf"QDIRECT-HOTPLUG remove block {vd}\b", mark)
            self.assertFalse(self.status().get("volumeStatus"))
            gone = self.vmctl("removevolume", self.NAME, "data")
            self.assertEqual(gone.returncode, 3, gone.stderr)

        with self.subTest("interfaces"):
            mark = self.console_len()
            self.vmctl("addinterface", self.NAME, "--name", "extra", "--mac", "02:00:00:00:00:07",
                       check=0)
            nic = self.wait_console(r"QDIRECT-HOTPLUG add net (\S+)\r?\n", mark).group(1)
            self.vmctl("setlink", self.NAME, "extra", "down", check=0)
            self.vmctl("setlink", self.NAME, "extra", "up", check=0)
            qom = self.vmctl("qmp", self.NAME, json.dumps(
                {"execute": "qom-get",
                 "arguments": {"path": "/machine/peripheral/ua-extra", "property": "mac"}}),
                check=0)
            self.assertEqual(json.loads(qom.stdout), "02:00:00:00:00:07")
            mark = self.console_len()
            self.vmctl("removeinterface", self.NAME, "extra", check=0)
            self.wait_console(rf"QDIRECT-HOTPLUG remove net {nic}\b", mark)

        with self.subTest("scale"):
            mark = self.console_len()
            self.vmctl("scale", self.NAME, "--sockets", "2", check=0)
            self.wait_console(r"QDIRECT-HOTPLUG add cpu cpu1", mark)
            beyond = self.vmctl("scale", self.NAME, "--sockets", "3")
            self.assertEqual(beyond.returncode, 1, beyond.stderr)
            self.assertIn("maxSockets", beyond.stderr)
            memory = self.vmctl("scale", self.NAME, "--memory", "256Mi", check=0)
            self.assertRegex(memory.stdout, r"scale (done|pending)")
            size = self.vmctl("qmp", self.NAME, json.dumps(
                {"execute": "qom-get",
                 "arguments": {"path": "/machine/peripheral/virtiomem0",
                               "property": "requested-size"}}), check=0)
            self.assertEqual(json.loads(size.stdout), 128 << 20)

        with self.subTest("changemedia"):
            iso = os.path.join(self.disks, "media.iso")
            with open(iso, "wb") as f:
                f.write(b"QDIRECT-MEDIA-V".ljust(64 << 10, b"\0"))
            os.chmod(iso, 0o666)
            self.vmctl("changemedia", self.NAME, "cd", "--disk", iso, check=0)
            block = json.loads(self.vmctl("qmp", self.NAME, '{"execute":"query-block"}', check=0).stdout)
            cd = [b for b in block if "ua-cd" in b.get("qdev", "")]
            self.assertEqual(cd[0]["inserted"]["image"]["filename"], iso)
            self.vmctl("changemedia", self.NAME, "cd", "--eject", check=0)
            block = json.loads(self.vmctl("qmp", self.NAME, '{"execute":"query-block"}', check=0).stdout)
            self.assertNotIn("inserted", [b for b in block if "ua-cd" in b.get("qdev", "")][0])
            self.assertEqual(self.vmctl("changemedia", self.NAME, "cd").returncode, 2)

        self.vmctl("kill", self.NAME, check=0)


if __name__ == "__main__":
    vmctl_harness.VmctlTestCase.VMCTL, MANIFEST = sys.argv[1:3]
    unittest.main(argv=sys.argv[:1], verbosity=2)
