#!/usr/bin/env python3
"""Live migration speed: qdirect's Machine.migrate against the same migration
driven by a plain script of raw QMP commands, in the same run.

usage: PYTHONPATH=<build>/bindings/python QDIRECT_ACCEL=tcg \\
         migration_compare.py [--dirty-mib 512] [--rounds 1] [--channels 1,2,4]

One test guest (examples/testvm.yaml, RAM sized for the data) boots on this
host and fills --dirty-mib of its memory with non-zero data once (a file on a
tmpfs of that size, via the guest agent). It then migrates back and forth
between two runtime roots over tcp:127.0.0.1, once per driver, channel count
and round, each time to a new target Machine (set up by qdirect in both
cases: capabilities, then migrate-incoming) that then becomes the source:
  qdirect  source.migrate(uri, parallelMigrationThreads=n): setup from the
           MigrationOptions, query-migrate every 100 ms under the policy
  raw      migrate-set-capabilities, migrate-set-parameters, migrate, then
           query-migrate every 100 ms until completed, command by command
           over the same QMP connection (Machine.qmp passthrough)
Every hop moves the same data (a migrated guest's pages are all sent again;
its zero pages cost little). The guest's checksum of the data is compared
after the last hop. Figures are QEMU's own (query-migrate total-time,
downtime, ram.transferred); throughput = transferred / total-time. Ratios
are qdirect / raw.
"""

import argparse
import os
import pathlib
import re
import shutil
import socket
import statistics
import sys
import tempfile
import time

import qdirect

SOURCE_ROOT = pathlib.Path(__file__).resolve().parents[1]
MARKER = r"QDIRECT-GUEST-UP boot_id="
UNLIMITED = (2**63 - 1) >> 20 << 20


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def guest_vmi(guest_mib, name):
    text = (SOURCE_ROOT / "examples" / "testvm.yaml").read_text()
    text = text.replace("guest: 128Mi", f"guest: {guest_mib}Mi")
    text = text.replace("memory: 128Mi", f"memory: {guest_mib}Mi")
    vmi = qdirect.Vmi.load(text)
    vmi.name = name
    return vmi


def guest_sh(machine, script, timeout=60):
    done = machine.agent.exec(["/bin/sh", "-c", script], timeout=timeout)
    if done.exit_code != 0:
        raise RuntimeError(f"guest: {script!r} failed: {done.err!r}")
    return done.out.decode().strip()


def raw_migrate(source, uri, channels):
    source.qmp("migrate-set-capabilities", capabilities=[
        {"capability": "events", "state": True},
        {"capability": "multifd", "state": channels >= 2}])
    params = {"max-bandwidth": UNLIMITED}
    if channels >= 2:
        params["multifd-channels"] = channels
    source.qmp("migrate-set-parameters", params)
    source.qmp("migrate", uri=uri)
    while True:
        info = source.qmp("query-migrate")
        if info.get("status") in ("completed", "failed", "cancelled"):
            break
        time.sleep(0.1)  # the polling period of the script being compared
    while info.get("status") == "completed" and not info.get("total-time"):
        info = source.qmp("query-migrate")
    if info.get("status") != "completed":
        raise RuntimeError(f"raw migration {info.get('status')}: {info.get('error-desc')}")
    ram = info.get("ram", {})
    return {"total_time_ms": info["total-time"], "downtime_ms": info.get("downtime", 0),
            "ram_transferred": ram.get("transferred", 0)}


class Chain:
    """One guest hopping between two runtime roots; `current` runs it."""

    def __init__(self, args, root):
        self.args = args
        self.roots = [os.path.join(root, "a"), os.path.join(root, "b")]
        for r in self.roots:
            os.makedirs(r, mode=0o755, exist_ok=True)
        # RAM: the data, plus room for the guest itself.
        self.vmi = guest_vmi(args.dirty_mib + 384, "mb")
        self.side = 0
        self.current = qdirect.Machine(self.vmi, self.roots[0], start_timeout=120).start()

    def fill(self):
        self.current.console.expect(MARKER, timeout=120)
        mib = self.args.dirty_mib
        return guest_sh(self.current,
                        f"mkdir -p /dirty && mount -t tmpfs -o size={mib + 16}m tmpfs /dirty && "
                        f"yes qdirect | head -c {mib << 20} > /dirty/data && "
                        "md5sum /dirty/data", timeout=1200)

    def checksum(self):
        return guest_sh(self.current, "md5sum /dirty/data", timeout=600)

    def hop(self, driver, channels):
        uri = f"tcp:127.0.0.1:{free_port()}"
        migration = {"parallelMigrationThreads": channels}
        target = qdirect.Machine(self.vmi, self.roots[1 - self.side], incoming=uri,
                                 migration=migration, start_timeout=120).start()
        try:
            start = time.monotonic()
            if driver == "qdirect":
                done = self.current.migrate(uri, parallelMigrationThreads=channels)
            else:
                done = raw_migrate(self.current, uri, channels)
            wall = time.monotonic() - start
            target.wait_incoming(timeout=120)
            assert target.phase == "Running", target.phase
        except BaseException:
            target.close()
            raise
        self.current.close()
        self.current, self.side = target, 1 - self.side
        seconds = done["total_time_ms"] / 1000
        return {"total": done["total_time_ms"], "downtime": done["downtime_ms"],
                "mib": done["ram_transferred"] / 2**20,
                "mibps": done["ram_transferred"] / 2**20 / seconds if seconds else 0,
                "wall": wall * 1000}

    def close(self):
        self.current.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dirty-mib", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--channels", default="1,2,4")
    args = parser.parse_args()
    os.environ.setdefault("QDIRECT_ACCEL", "tcg")
    root = tempfile.mkdtemp(prefix="qdmb-")
    os.chmod(root, 0o755)
    chain = None
    try:
        chain = Chain(args, root)
        t0 = time.monotonic()
        before = chain.fill()
        print(f"guest {args.dirty_mib + 384} MiB, {args.dirty_mib} MiB dirtied "
              f"({time.monotonic() - t0:.0f} s to fill), tcp loopback, median of {args.rounds}")
        print(f"{'channels':>8} {'driver':>8} {'total ms':>9} {'downtime ms':>11} "
              f"{'MiB sent':>9} {'MiB/s':>8} {'wall ms':>8}")
        for channels in [int(c) for c in args.channels.split(",")]:
            runs = {"raw": [], "qdirect": []}
            for _ in range(args.rounds):
                for driver in ("raw", "qdirect"):
                    runs[driver].append(chain.hop(driver, channels))
            results = {}
            for driver in ("raw", "qdirect"):
                med = {k: statistics.median(r[k] for r in runs[driver]) for k in runs[driver][0]}
                results[driver] = med
                print(f"{channels:>8} {driver:>8} {med['total']:>9.0f} {med['downtime']:>11.0f} "
                      f"{med['mib']:>9.1f} {med['mibps']:>8.1f} {med['wall']:>8.0f}", flush=True)
            q, r = results["qdirect"], results["raw"]
            print(f"{channels:>8} {'ratio':>8} throughput qdirect/raw "
                  f"{q['mibps'] / r['mibps']:.2f}, total {q['total'] / r['total']:.2f}, "
                  f"downtime {q['downtime']:.0f} vs {r['downtime']:.0f} ms "
                  f"(QEMU's limit 300 ms)", flush=True)
        after = chain.checksum()
        if after != before:
            raise RuntimeError(f"guest data changed across the hops: {before} -> {after}")
        print(f"guest data intact after every hop: {after.split()[0]}")
    finally:
        if chain is not None:
            chain.close()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
