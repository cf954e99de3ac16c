#!/usr/bin/env python3
"""Hotplug latency through qdirect.Machine (the Python binding), ACPI PCI
hotplug against native PCIe hotplug (QDIRECT_PCI_HOTPLUG=native).

For each mode one test-guest VM (TCG) is booted, then ROUNDS times a virtio-blk
volume is hot-plugged and unplugged:
  add call         Machine.add_volume returns (blockdev-add x2 + device_add)
  call -> guest    from the call until the guest prints
                   "QDIRECT-HOTPLUG add block vdX" (driver probed, disk seen)
  unplug           Machine.remove_volume returns: device_del, DEVICE_DELETED,
                   blockdev-del x2
Prints medians and the native/ACPI ratio.

usage: benchmarks/hotplug_benchmark.py BUILD_DIR [--rounds N]
Needs the test guest in the image store (tests/guest/build.sh) and root (or a
user QEMU may run as).
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARKER = r"QDIRECT-GUEST-UP boot_id="


def measure(qdirect, mode, rounds, root):
    os.environ["QDIRECT_PCI_HOTPLUG"] = mode
    vmi = qdirect.Vmi.load(os.path.join(SOURCE_ROOT, "examples", "testvm.yaml"))
    vmi.name = f"hpbench-{mode}"
    add, visible, unplug = [], [], []
    with qdirect.Machine(vmi) as m:
        m.console.expect(MARKER, timeout=120)
        for i in range(rounds):
            t0 = time.monotonic()
            m.add_volume(f"b{i}", claim="bench")
            t1 = time.monotonic()
            line = m.console.expect(r"QDIRECT-HOTPLUG add block (vd[a-z]+)\r?\n", timeout=60)
            t2 = time.monotonic()
            vd = line.split()[3]
            result = m.remove_volume(f"b{i}", guest_wait=60)
            t3 = time.monotonic()
            if result["outcome"] != "Done":
                raise RuntimeError(f"{mode}: unplug of b{i} still pending after 60 s")
            # The guest's remove line; its timing is not the figure (DEVICE_DELETED is).
            m.console.expect(rf"QDIRECT-HOTPLUG remove block {vd}\r?\n", timeout=60)
            add.append((t1 - t0) * 1000)
            visible.append((t2 - t0) * 1000)
            unplug.append((t3 - t2) * 1000)
    return {"add call": statistics.median(add), "call -> guest": statistics.median(visible),
            "unplug (DEVICE_DELETED)": statistics.median(unplug)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build_dir")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, os.path.join(os.path.abspath(args.build_dir), "bindings", "python"))
    import qdirect  # noqa: E402 (needs the build dir on sys.path)

    root = tempfile.mkdtemp(prefix="qdirect-hpbench-")
    try:
        os.chmod(root, 0o755)
        pvc = os.path.join(root, "pvc")
        os.mkdir(pvc, 0o755)
        with open(os.path.join(pvc, "bench"), "wb") as f:
            f.truncate(4 << 20)
        os.chmod(os.path.join(pvc, "bench"), 0o666)
        os.environ.update(QDIRECT_RUNTIME_DIR=os.path.join(root, "run"), QDIRECT_PVC_DIR=pvc,
                          QDIRECT_ACCEL=os.environ.get("QDIRECT_ACCEL", "tcg"))
        results = {mode: measure(qdirect, mode, args.rounds, root) for mode in ("acpi", "native")}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"median of {args.rounds} rounds, ms   {'acpi':>10} {'native':>10} {'native/acpi':>12}")
    for key in results["acpi"]:
        a, n = results["acpi"][key], results["native"][key]
        print(f"{key:<30} {a:>10.1f} {n:>10.1f} {n / a:>11.1f}x")


if __name__ == "__main__":
    main()
