#!/usr/bin/env python3
"""Live migration speed: qdirect's Machine.migrate against the same migration
driven by a plain script of raw QMP commands, in the same run.

usage: PYTHONPATH=<build>/bindings/python QDIRECT_ACCEL=tcg \\
         migration_compare.py [--dirty-mib 512] [--guest-mib 768] [--rounds 1]

Each case boots the test guest (examples/testvm.yaml with --guest-mib of RAM)
on this host, has it fill --dirty-mib of its memory (a file in its tmpfs root) with non-zero data (via
the guest agent), starts a target Machine listening on tcp:127.0.0.1 (the
target side is set up by qdirect in both cases: capabilities, then
migrate-incoming), then migrates with 1, 2 and 4 multifd channels:
  qdirect  source.migrate(uri, parallelMigrationThreads=n): setup from the
           MigrationOptions, query-migrate every 100 ms under the policy
  raw      migrate-set-capabilities, migrate-set-parameters, migrate, then
           query-migrate every 100 ms until completed, command by command
           over the same QMP connection (Machine.qmp passthrough)
Figures are QEMU's own (query-migrate total-time, downtime, ram.transferred);
throughput = transferred / total-time. Ratios are qdirect / raw.
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


def one_case(args, root, driver, channels, index):
    name = f"mb-{driver[0]}{channels}-{index}"
    vmi = guest_vmi(args.guest_mib, name)
    uri = f"tcp:127.0.0.1:{free_port()}"
    target_root = os.path.join(root, "target")
    os.makedirs(target_root, mode=0o755, exist_ok=True)
    with qdirect.Machine(vmi, os.path.join(root, "source"), start_timeout=120) as source:
        source.console.expect(MARKER, timeout=120)
        fill = source.agent.exec(
            ["/bin/sh", "-c", f"yes qdirect | head -c {args.dirty_mib << 20} > /dirty"],
            timeout=600)
        if fill.exit_code != 0:
            raise RuntimeError(f"dirtying guest memory failed: {fill.err!r}")
        migration = {"parallelMigrationThreads": channels}
        with qdirect.Machine(vmi, target_root, incoming=uri, migration=migration,
                             start_timeout=120) as target:
            start = time.monotonic()
            if driver == "qdirect":
                done = source.migrate(uri, parallelMigrationThreads=channels)
            else:
                done = raw_migrate(source, uri, channels)
            wall = time.monotonic() - start
            target.wait_incoming(timeout=120)
            assert target.phase == "Running", target.phase
            target.stop(timeout=0)
    seconds = done["total_time_ms"] / 1000
    return {"total": done["total_time_ms"], "downtime": done["downtime_ms"],
            "mib": done["ram_transferred"] / 2**20,
            "mibps": done["ram_transferred"] / 2**20 / seconds if seconds else 0,
            "wall": wall * 1000}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dirty-mib", type=int, default=512)
    # The guest keeps the data in its tmpfs root, which takes half of RAM.
    parser.add_argument("--guest-mib", type=int, default=1280)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--channels", default="1,2,4")
    args = parser.parse_args()
    os.environ.setdefault("QDIRECT_ACCEL", "tcg")
    root = tempfile.mkdtemp(prefix="qdmb-")
    os.chmod(root, 0o755)
    try:
        print(f"guest {args.guest_mib} MiB, {args.dirty_mib} MiB dirtied, tcp loopback, "
              f"median of {args.rounds}")
        print(f"{'channels':>8} {'driver':>8} {'total ms':>9} {'downtime ms':>11} "
              f"{'MiB sent':>9} {'MiB/s':>8} {'wall ms':>8}")
        for channels in [int(c) for c in args.channels.split(",")]:
            results = {}
            for driver in ("raw", "qdirect"):
                runs = [one_case(args, root, driver, channels, i) for i in range(args.rounds)]
                med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                results[driver] = med
                print(f"{channels:>8} {driver:>8} {med['total']:>9.0f} {med['downtime']:>11.0f} "
                      f"{med['mib']:>9.1f} {med['mibps']:>8.1f} {med['wall']:>8.0f}", flush=True)
            q, r = results["qdirect"], results["raw"]
            print(f"{channels:>8} {'ratio':>8} throughput qdirect/raw "
                  f"{q['mibps'] / r['mibps']:.2f}, total {q['total'] / r['total']:.2f}, "
                  f"downtime {q['downtime']:.0f} vs {r['downtime']:.0f} ms "
                  f"(QEMU's limit 300 ms)", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
