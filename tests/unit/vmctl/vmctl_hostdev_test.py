#!/usr/bin/env python3
"""vmctl hostdev through the real binary, on synthetic sysfs trees.

usage: vmctl_hostdev_test.py VMCTL SOURCE_ROOT [TestClass]
HostdevCli needs nothing else; HostdevRender probes the real QEMU binary (no
guest), so it runs with the e2e suite. No VFIO hardware is needed: each test lays out a sysfs tree as the kernel
does (device dirs under devices/pci0000:00, bus/pci/devices symlinks,
iommu_group and driver links, kernel/iommu_groups/N/devices) in a temp dir
and points --sysfs-root (or QDIRECT_SYSFS_ROOT) at it. Writes land in plain
files, so a test reads back what "the kernel" was told. Stdlib only.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

VMCTL, ROOT = sys.argv[1:3]
del sys.argv[1:3]


def vmctl(*args, env=None):
    return subprocess.run([VMCTL, *args], capture_output=True, text=True, env=env)


class FakeSysfs:
    def __init__(self):
        self.base = tempfile.mkdtemp(prefix="qdirect-vmctl-sysfs-")
        self.root = os.path.join(self.base, "sys")
        for d in ("devices/pci0000:00", "bus/pci/devices", "bus/pci/drivers",
                  "kernel/iommu_groups"):
            os.makedirs(os.path.join(self.root, d))
        self.write("bus/pci/drivers_probe", "")
        self.driver("vfio-pci")

    def close(self):
        shutil.rmtree(self.base)

    def write(self, rel, text):
        with open(os.path.join(self.root, rel), "w") as f:
            f.write(text)

    def read(self, rel):
        with open(os.path.join(self.root, rel)) as f:
            return f.read()

    def driver(self, name):
        d = os.path.join(self.root, "bus/pci/drivers", name)
        if not os.path.isdir(d):
            os.makedirs(d)
            for f in ("bind", "unbind"):
                open(os.path.join(d, f), "w").close()

    def pci(self, address, vendor, device, cls, driver, group, numa=-1):
        rel = "devices/pci0000:00/" + address
        d = os.path.join(self.root, rel)
        os.makedirs(d)
        for name, value in (("vendor", "0x%04x" % vendor), ("device", "0x%04x" % device),
                            ("class", "0x%06x" % cls), ("subsystem_vendor", "0x%04x" % vendor),
                            ("subsystem_device", "0x0001"), ("numa_node", str(numa)),
                            ("driver_override", "(null)")):
            self.write(rel + "/" + name, value + "\n")
        os.symlink("../../../" + rel, os.path.join(self.root, "bus/pci/devices", address))
        if driver:
            self.driver(driver)
            os.symlink("../../../bus/pci/drivers/" + driver, os.path.join(d, "driver"))
        if group >= 0:
            g = os.path.join(self.root, "kernel/iommu_groups", str(group), "devices")
            os.makedirs(g, exist_ok=True)
            os.symlink("../../../kernel/iommu_groups/%d" % group, os.path.join(d, "iommu_group"))
            os.symlink("../../../../" + rel, os.path.join(g, address))


class HostdevCli(unittest.TestCase):
    def setUp(self):
        self.sysfs = FakeSysfs()
        s = self.sysfs
        # Group 12: a GPU and its HDMI audio, both on vfio-pci (viable).
        s.pci("0000:65:00.0", 0x10de, 0x1eb8, 0x030000, "vfio-pci", 12, numa=1)
        s.pci("0000:65:00.1", 0x10de, 0x10f8, 0x040300, "vfio-pci", 12, numa=1)
        # Group 13: a GPU on the host driver, audio on snd_hda_intel.
        s.pci("0000:66:00.0", 0x10de, 0x2204, 0x030000, "nvidia", 13)
        s.pci("0000:66:00.1", 0x10de, 0x1aef, 0x040300, "snd_hda_intel", 13)
        # Group 14: a GPU plus another slot's NIC held by igb (never viable).
        s.pci("0000:67:00.0", 0x10de, 0x2204, 0x030000, "nvidia", 14)
        s.pci("0000:68:00.0", 0x8086, 0x1533, 0x020000, "igb", 14)
        # No IOMMU group at all.
        s.pci("0000:00:1f.0", 0x8086, 0x2918, 0x060100, "lpc_ich", -1)

    def tearDown(self):
        self.sysfs.close()

    def test_list_json_groups_devices_with_viability(self):
        r = vmctl("hostdev", "list", "--json", "--sysfs-root", self.sysfs.root)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = json.loads(r.stdout)
        groups = {g["group"]: g for g in out["iommuGroups"]}
        self.assertEqual(sorted(groups), [12, 13, 14])
        self.assertTrue(groups[12]["viable"])
        self.assertEqual(groups[13]["offending"],
                         ["0000:66:00.0 (nvidia)", "0000:66:00.1 (snd_hda_intel)"])
        gpu = groups[12]["devices"][0]
        self.assertEqual(gpu["address"], "0000:65:00.0")
        self.assertEqual(gpu["vendorSelector"], "10de:1eb8")
        self.assertEqual(gpu["driver"], "vfio-pci")
        self.assertEqual(gpu["numaNode"], 1)
        self.assertEqual(gpu["companions"], ["0000:65:00.1"])
        self.assertEqual([d["address"] for d in out["withoutIommuGroup"]], ["0000:00:1f.0"])

    def test_list_text_reads_the_env_root(self):
        env = dict(os.environ, QDIRECT_SYSFS_ROOT=self.sysfs.root)
        r = vmctl("hostdev", "list", env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("IOMMU group 12: viable\n", r.stdout)
        self.assertIn("IOMMU group 14: not viable (0000:67:00.0 (nvidia), 0000:68:00.0 (igb)",
                      r.stdout)
        self.assertIn("  0000:65:00.0 10de:1eb8 class 030000 vfio-pci numa 1 GPU\n", r.stdout)

    def test_prepare_dry_run_prints_the_writes_and_writes_nothing(self):
        r = vmctl("hostdev", "prepare", "66:00.0", "--dry-run", "--sysfs-root", self.sysfs.root)
        self.assertEqual(r.returncode, 0, r.stderr)
        root = self.sysfs.root
        self.assertIn("would run: echo 'vfio-pci' > %s/bus/pci/devices/0000:66:00.0/driver_override\n"
                      % root, r.stdout)
        self.assertIn("would run: echo '0000:66:00.1' > %s/bus/pci/drivers/snd_hda_intel/unbind\n"
                      % root, r.stdout)
        self.assertEqual(self.sysfs.read("bus/pci/devices/0000:66:00.0/driver_override"),
                         "(null)\n")
        self.assertEqual(self.sysfs.read("bus/pci/drivers/nvidia/unbind"), "")

    def test_prepare_then_release_write_the_sysfs_files(self):
        r = vmctl("hostdev", "prepare", "0000:66:00.0", "--sysfs-root", self.sysfs.root)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.sysfs.read("bus/pci/devices/0000:66:00.0/driver_override"),
                         "vfio-pci")
        self.assertEqual(self.sysfs.read("bus/pci/drivers/nvidia/unbind"), "0000:66:00.0")
        self.assertIn("0000:66:00.0: was on nvidia (vmctl hostdev release 0000:66:00.0 "
                      "--driver nvidia)", r.stdout)
        r = vmctl("hostdev", "release", "0000:66:00.0", "--driver", "nvidia",
                  "--sysfs-root", self.sysfs.root)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.sysfs.read("bus/pci/drivers/vfio-pci/unbind"), "0000:66:00.0")
        self.assertEqual(self.sysfs.read("bus/pci/devices/0000:66:00.0/driver_override"), "\n")
        self.assertEqual(self.sysfs.read("bus/pci/drivers/nvidia/bind"), "0000:66:00.0")

    def test_prepare_of_a_group_with_a_foreign_device_fails_naming_it(self):
        r = vmctl("hostdev", "prepare", "0000:67:00.0", "--sysfs-root", self.sysfs.root)
        self.assertEqual(r.returncode, 4)
        self.assertIn("IOMMU group 14 is not viable: 0000:68:00.0 (igb)", r.stderr)
        self.assertEqual(self.sysfs.read("bus/pci/drivers/nvidia/unbind"), "")

    def test_unknown_device_is_not_found(self):
        r = vmctl("hostdev", "prepare", "0000:99:00.0", "--sysfs-root", self.sysfs.root)
        self.assertEqual(r.returncode, 3)
        self.assertIn("0000:99:00.0", r.stderr)

    def test_bad_command_line_is_usage(self):
        self.assertEqual(vmctl("hostdev").returncode, 2)
        self.assertEqual(vmctl("hostdev", "prepare").returncode, 2)
        self.assertEqual(vmctl("hostdev", "list", "--dry-run").returncode, 2)

    def test_missing_sysfs_root_names_the_path(self):
        r = vmctl("hostdev", "list", "--sysfs-root", "/nonexistent-root")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("/nonexistent-root/bus/pci/devices", r.stderr)


class HostdevHotplugCli(unittest.TestCase):
    """vmctl addhostdev / removehostdev: what is refused before any VM is asked."""

    def setUp(self):
        self.run_dir = tempfile.mkdtemp(prefix="qdirect-vmctl-hostdev-run-")
        self.env = dict(os.environ, QDIRECT_RUNTIME_DIR=self.run_dir)

    def tearDown(self):
        shutil.rmtree(self.run_dir)

    def test_missing_or_conflicting_flags_are_usage(self):
        for args in (["addhostdev"],
                     ["addhostdev", "vm1"],
                     ["addhostdev", "vm1", "--name", "gpu1"],
                     ["addhostdev", "vm1", "--pci", "0000:65:00.0"],
                     ["addhostdev", "vm1", "--name", "gpu1", "--pci"],
                     ["addhostdev", "vm1", "--name", "gpu1", "--pci", "0000:65:00.0",
                      "--with-companions", "--no-companions"],
                     ["addhostdev", "vm1", "--name", "gpu1", "--pci", "0000:65:00.0",
                      "--companions"],
                     ["removehostdev", "vm1"],
                     ["removehostdev", "vm1", "--name"]):
            r = vmctl(*args, env=self.env)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn("usage: vmctl " + args[0], r.stderr, args)

    def test_malformed_pci_address_is_invalid_and_names_it(self):
        r = vmctl("addhostdev", "vm1", "--name", "gpu1", "--pci", "65:00", env=self.env)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn('addhostdev --pci: PCI address "65:00"', r.stderr)

    def test_vm_that_does_not_run_is_not_found(self):
        r = vmctl("addhostdev", "vm1", "--name", "gpu1", "--pci", "65:00.0",
                  "--no-companions", env=self.env)
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("vm1", r.stderr)
        r = vmctl("removehostdev", "vm1", "gpu1", env=self.env)
        self.assertEqual(r.returncode, 3, r.stderr)

    def test_usage_text_lists_the_commands(self):
        r = vmctl("--help")
        text = r.stdout + r.stderr
        self.assertIn("addhostdev VM --name DEV --pci ADDR [--with-companions|--no-companions]",
                      text)
        self.assertIn("removehostdev VM DEV", text)


class HostdevRender(unittest.TestCase):
    """The standalone path: permittedHostDevices config + sysfs -> the
    device-plugin variable -> vfio-pci in the argv `vmctl render` prints."""

    def setUp(self):
        self.sysfs = FakeSysfs()
        self.sysfs.pci("0000:65:00.0", 0x10de, 0x1eb8, 0x030000, "vfio-pci", 12)
        self.sysfs.pci("0000:65:00.1", 0x10de, 0x10f8, 0x040300, "vfio-pci", 12)
        self.config = os.path.join(self.sysfs.base, "permitted.yaml")
        with open(self.config, "w") as f:
            f.write('permittedHostDevices:\n  pciHostDevices:\n'
                    '  - pciVendorSelector: "10DE:1EB8"\n'
                    '    resourceName: nvidia.com/T4\n    romFile: /roms/t4.rom\n')
        with open(os.path.join(ROOT, "examples", "testvm.yaml")) as f:
            vm = f.read().replace("    devices:\n", "    devices:\n      gpus:\n"
                                  "      - name: gpu1\n        deviceName: nvidia.com/T4\n", 1)
        self.manifest = os.path.join(self.sysfs.base, "gpu.yaml")
        with open(self.manifest, "w") as f:
            f.write(vm)
        self.env = dict(os.environ, QDIRECT_SYSFS_ROOT=self.sysfs.root, QDIRECT_ACCEL="tcg")
        for name in list(self.env):
            if name.startswith(("PCI_RESOURCE_", "MDEV_PCI_RESOURCE_")):
                del self.env[name]

    def tearDown(self):
        self.sysfs.close()

    def test_config_gives_the_gpu_and_its_audio_as_one_device(self):
        env = dict(self.env, QDIRECT_HOSTDEV_CONFIG=self.config)
        r = vmctl("render", self.manifest, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        vfio = [l for l in r.stdout.splitlines() if "vfio-pci" in l]
        self.assertEqual(len(vfio), 2, r.stdout)
        self.assertIn('"host":"0000:65:00.0","id":"ua-gpu1","romfile":"/roms/t4.rom",'
                      '"multifunction":true', vfio[0])
        self.assertIn('"host":"0000:65:00.1","id":"ua-gpu1-fn1"', vfio[1])
        self.assertIn('"addr":"0x0.0x1"', vfio[1])

    def test_without_config_the_resource_is_named_in_the_error(self):
        r = vmctl("render", self.manifest, env=self.env)
        self.assertEqual(r.returncode, 4)
        self.assertIn('gpus[0]: resource "nvidia.com/T4": neither PCI_RESOURCE_NVIDIA_COM_T4 '
                      'nor MDEV_PCI_RESOURCE_NVIDIA_COM_T4 is set', r.stderr)


if __name__ == "__main__":
    unittest.main()
