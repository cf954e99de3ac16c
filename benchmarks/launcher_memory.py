#!/usr/bin/env python3
"""Memory of qdirect-launcher per VM, with 1 and with N VMs running.

Starts the test guest N times (`vmctl start`, TCG, a private runtime root),
reads every launcher's /proc/PID/smaps_rollup once the guests are up, and
prints RSS, PSS, private dirty and private clean memory per launcher. RSS
counts every shared library page a launcher maps (libc, libstdc++ ...: pages
all processes share) in full; PSS charges each page to the processes mapping
it in equal parts, so the sum of PSS over the launchers is what they cost
together, and PSS / VM is the memory one more VM adds.

usage: benchmarks/launcher_memory.py [--vms N] [--build DIR] [--idle S]
"""
import argparse
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIELDS = ("Rss", "Pss", "Private_Dirty", "Private_Clean", "Shared_Clean")


def rollup(pid):
    text = pathlib.Path(f"/proc/{pid}/smaps_rollup").read_text()
    return {k: int(re.search(rf"^{k}:\s+(\d+) kB", text, re.M).group(1))
            for k in FIELDS}


def launcher_pids(work):
    """The launchers whose manifest lies in `work`."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = pathlib.Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        # qdirect-launcher, or whatever QDIRECT_LAUNCHER names.
        if (cmdline and os.path.basename(cmdline[0]).endswith(b"launcher")
                and work.encode() in b" ".join(cmdline)):
            pids.append(int(entry))
    return sorted(pids)


def measure(vmctl, count, env, runtime_root, idle_seconds):
    """Samples per phase: right after start (the launcher has released its
    start-up pages), after control requests (status, pause, unpause,
    console --log), and once idle again (the launcher releases what the
    requests faulted in 30 s after its last connection)."""
    text = (ROOT / "examples" / "testvm.yaml").read_text()
    names = [f"mem{i}" for i in range(count)]
    phases = {}
    try:
        for name in names:
            manifest = pathlib.Path(runtime_root).parent / f"{name}.yaml"
            manifest.write_text(text.replace("name: testvm", f"name: {name}"))
            subprocess.run([vmctl, "start", str(manifest)], env=env, check=True,
                           stdout=subprocess.DEVNULL)
        pids = launcher_pids(str(pathlib.Path(runtime_root).parent))
        assert len(pids) == count, f"{len(pids)} launchers for {count} VMs"
        phases["started"] = [rollup(pid) for pid in pids]
        for name in names:
            for request in (["status"], ["pause"], ["unpause"], ["console", "--log"]):
                subprocess.run([vmctl, request[0], name] + request[1:], env=env, check=True,
                               stdout=subprocess.DEVNULL)
        phases["requests"] = [rollup(pid) for pid in pids]
        if idle_seconds > 0:
            time.sleep(idle_seconds)  # the launcher's idle period, not synchronisation
            phases["idle"] = [rollup(pid) for pid in pids]
        return phases
    finally:
        for name in names:
            subprocess.run([vmctl, "stop", name, "--grace", "10"], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def report(label, samples):
    n = len(samples)
    mean = {k: sum(s[k] for s in samples) / n for k in FIELDS}
    print(f"{label:>22} | " + " | ".join(f"{mean[k] / 1024:6.2f}" for k in FIELDS))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--vms", type=int, default=5)
    parser.add_argument("--build", default=str(ROOT / "build"))
    parser.add_argument("--idle", type=float, default=32.0,
                        help="seconds to wait for the idle sample (0: none)")
    args = parser.parse_args()
    vmctl = str(pathlib.Path(args.build) / "tools" / "vmctl" / "vmctl")
    work = tempfile.mkdtemp(prefix="qdirect-mem-")
    os.chmod(work, 0o755)
    runtime_root = os.path.join(work, "run")
    env = dict(os.environ, QDIRECT_ACCEL="tcg", QDIRECT_RUNTIME_DIR=runtime_root)
    env.setdefault("QDIRECT_IMAGE_DIR", "/var/lib/qdirect/images")
    try:
        print(f"{'MiB per launcher (mean)':>22} | " + " | ".join(FIELDS))
        for count in (1, args.vms):
            for phase, samples in measure(vmctl, count, env, runtime_root, args.idle).items():
                report(f"{count} VM{'s' if count > 1 else ''}, {phase}", samples)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
