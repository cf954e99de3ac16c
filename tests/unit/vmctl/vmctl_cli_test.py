#!/usr/bin/env python3
"""vmctl validate/render through the real binary: exit codes and messages.

usage: vmctl_cli_test.py VMCTL SOURCE_ROOT SEED_EXAMPLES_DIR
Validate needs nothing else; Render probes the real QEMU binary (no guest)
and is skipped without one. Plain unittest, stdlib only.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

VMCTL, ROOT, SEED = sys.argv[1:4]
del sys.argv[1:4]


def vmctl(*args, env=None, stdin=None):
    return subprocess.run([VMCTL, *args], capture_output=True, text=True,
                          env=env, input=stdin)


class Validate(unittest.TestCase):
    def test_seed_manifests_are_valid(self):
        files = sorted(os.path.join(SEED, f) for f in os.listdir(SEED))
        result = vmctl("validate", *files)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertEqual(result.stdout, "")

    def test_non_vm_documents_are_skipped_with_a_notice(self):
        result = vmctl("validate", os.path.join(SEED, "04-datavolume-windows-dv.yaml"))
        self.assertEqual(result.returncode, 0)
        self.assertIn("skipped kind DataVolume", result.stderr)

    def test_every_error_is_reported_with_file_and_field_path(self):
        manifest = """apiVersion: kubevirt.io/v1
kind: VirtualMachineInstance
metadata:
  name: bad
spec:
  domain:
    devices:
      disks:
      - name: os
        disk: {bus: virtio}
      - name: data
        disk: {bus: ide}
    resources:
      requests:
        memory: 64Mi
  volumes:
  - name: os
    containerDisk: {image: quay.io/x/y}
"""
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
            f.write(manifest)
            f.flush()
            result = vmctl("validate", f.name)
        self.assertEqual(result.returncode, 1)
        lines = result.stdout.splitlines()
        self.assertTrue(all(line.startswith(f.name + ": spec.") for line in lines), lines)
        self.assertTrue(any("spec.domain.devices.disks[1].bus: Unsupported value: \"ide\"" in l
                            for l in lines), lines)
        self.assertTrue(any(l.startswith(f.name + ": spec.domain.devices.disks[1].name:")
                            for l in lines), lines)

    def test_strict_turns_unknown_fields_into_errors(self):
        path = os.path.join(SEED, "09-virtualmachine-secure-vm.yaml")
        self.assertEqual(vmctl("validate", path).returncode, 0)
        strict = vmctl("validate", "--strict", path)
        self.assertEqual(strict.returncode, 1)
        self.assertIn("securityContext", strict.stdout)

    def test_syntax_error_names_line_and_column(self):
        result = vmctl("validate", "-", stdin="kind: VirtualMachineInstance\nspec: [\n")
        self.assertEqual(result.returncode, 1)
        self.assertRegex(result.stdout, r"line \d+, column \d+")

    def test_missing_file_is_not_found(self):
        result = vmctl("validate", "/nonexistent/vm.yaml")
        self.assertEqual(result.returncode, 3)
        self.assertIn("/nonexistent/vm.yaml", result.stderr)

    def test_usage_errors(self):
        self.assertEqual(vmctl("validate").returncode, 2)
        self.assertEqual(vmctl("frobnicate").returncode, 2)


@unittest.skipUnless(shutil.which("qemu-system-x86_64"), "needs QEMU for the probe")
class Render(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        images = os.path.join(self.tmp.name, "images", "qdirect_test-guest", "boot")
        os.makedirs(images)
        for name in ("vmlinuz", "initrd.img"):
            open(os.path.join(images, name), "wb").close()
        self.env = dict(os.environ,
                        QDIRECT_IMAGE_DIR=os.path.join(self.tmp.name, "images"),
                        QDIRECT_RUNTIME_DIR=os.path.join(self.tmp.name, "run"),
                        QDIRECT_CACHE_DIR=os.path.join(self.tmp.name, "cache"))

    def tearDown(self):
        self.tmp.cleanup()

    def test_render_prints_one_argument_per_line(self):
        result = vmctl("render", os.path.join(ROOT, "examples", "testvm.yaml"),
                       "--accel", "tcg", env=self.env)
        self.assertEqual(result.returncode, 0, result.stderr)
        argv = result.stdout.splitlines()
        self.assertTrue(argv[0].endswith("qemu-system-x86_64"))
        self.assertIn("-S", argv)
        self.assertIn("-nodefaults", argv)
        self.assertTrue(any(a.startswith("on,obsolete=deny,elevateprivileges=deny") for a in argv))
        self.assertTrue(any("accel=tcg" in a for a in argv))

    def test_render_json_matches_text(self):
        path = os.path.join(ROOT, "examples", "testvm.yaml")
        text = vmctl("render", path, "--accel", "tcg", env=self.env)
        import json
        as_json = vmctl("render", path, "--accel", "tcg", "--json", env=self.env)
        self.assertEqual(as_json.returncode, 0, as_json.stderr)
        self.assertEqual(json.loads(as_json.stdout), text.stdout.splitlines())

    def test_missing_image_is_not_found(self):
        env = dict(self.env, QDIRECT_IMAGE_DIR=os.path.join(self.tmp.name, "empty"))
        result = vmctl("render", os.path.join(ROOT, "examples", "testvm.yaml"), env=env)
        self.assertEqual(result.returncode, 3, result.stderr)
        self.assertIn("qdirect/test-guest", result.stderr)

    def test_bad_accel_is_invalid(self):
        result = vmctl("render", os.path.join(ROOT, "examples", "testvm.yaml"),
                       "--accel", "hvf", env=self.env)
        self.assertEqual(result.returncode, 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
