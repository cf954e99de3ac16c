#!/usr/bin/env python3
"""Boot the test guest three ways: raw QEMU, `vmctl run`, and libvirt.

usage: benchmarks/libvirt_compare.py [--vmctl build/tools/vmctl/vmctl] [--runs 5]
       [--manifest examples/testvm.yaml] [--uri qemu:///system]

All three sides boot the same kernel/initrd/cmdline under TCG and are timed
to the `QDIRECT-GUEST-UP` console line, alternating runs so machine noise
hits each side alike:
  raw     boot_compare.run_raw: exec of `vmctl render --json`'s argv + `cont`
  vmctl   boot_compare.run_vmctl: `vmctl run --until QDIRECT-GUEST-UP`
  libvirt just before `virsh create` of an equivalent transient domain (q35,
          TCG, 128 MiB, 1 vCPU, cpu maximum, memfd memory, direct kernel boot,
          serial on a unix socket, virtio-serial agent channel, memballoon
          virtio, no disks/network/USB) to the marker read from that socket.
          QEMU starts paused (-S) and the guest runs only from libvirt's
          `cont`, which precedes virsh's return, so connecting to the serial
          socket once virsh returns loses no output that matters.
It also reports how long `virsh create` takes to return, how many QMP
commands libvirt sent while creating (from libvirtd's debug log of
qemu.qemu_monitor), and the memory that sits beside QEMU: RSS of libvirtd +
virtlogd with one domain running vs qdirect-launcher's VmRSS after
`vmctl start`.

libvirt setup (not done by this script, nor by scripts/install-deps.sh):
  apt-get install -y --no-install-recommends libvirt-daemon \
      libvirt-daemon-driver-qemu libvirt-clients
  useradd --system --user-group --home-dir /var/lib/libvirt \
      --no-create-home --shell /usr/sbin/nologin libvirt-qemu
(libvirt-daemon-system creates that user too but upgrades systemd.) When no
libvirtd answers on --uri the script starts virtlogd (if none runs) and a
libvirtd with its own config (debug log of the QEMU monitor in a temp dir),
in a private mount namespace that hides /dev/kvm (see Libvirt.start), and
stops both at the end; with no virsh it skips the libvirt side. The kernel
and initrd are copied to a temp dir so libvirt's dynamic_ownership never
chowns the image store. A benchmark, not a test: it asserts nothing.
"""

import argparse
import json
import os
import pwd
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import boot_compare  # noqa: E402  (run_raw, run_vmctl, wait_marker)

DOMAIN = "qdirect-bench-libvirt"
QMP_SEND = re.compile(r'QEMU_MONITOR_SEND_MSG.*?"execute":"([\w-]+)"')

DOMAIN_XML = """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>128</memory>
  <memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>
  <vcpu>1</vcpu>
  <cpu mode='maximum'/>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>{kernel}</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>{cmdline}</cmdline>
  </os>
  <features><acpi/></features>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <controller type='usb' model='none'/>
    <serial type='unix'>
      <source mode='bind' path='{serial}'/>
      <target port='0'/>
    </serial>
    <channel type='unix'>
      <source mode='bind' path='{agent}'/>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
    <memballoon model='virtio'/>
  </devices>
</domain>
"""


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def pids_named(name):
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    if f.read().strip() == name:
                        pids.append(int(entry))
            except OSError:
                pass
    return pids


def kernel_args(manifest):
    # The argv vmctl renders is the source of truth for the cmdline.
    return manifest[manifest.index("-append") + 1], \
        manifest[manifest.index("-kernel") + 1], manifest[manifest.index("-initrd") + 1]


class Libvirt:
    """A libvirtd to talk to: the running one, or one this object starts."""

    def __init__(self, uri, workdir):
        self.uri = uri
        self.workdir = workdir
        self.daemon = None
        self.virtlogd = None
        self.log_path = None

    def virsh(self, *args, check=True):
        done = subprocess.run(["virsh", "-q", "-c", self.uri, *args],
                              capture_output=True, text=True)
        if check and done.returncode != 0:
            raise RuntimeError(f"virsh {' '.join(args)}: {done.stderr.strip()}")
        return done

    def answers(self):
        return self.virsh("version", check=False).returncode == 0

    def start(self):
        if self.answers():
            print(f"libvirt: using the libvirtd already on {self.uri} "
                  "(no QMP count: its log filters are not ours)")
            return
        self.log_path = os.path.join(self.workdir, "libvirtd.log")
        conf = os.path.join(self.workdir, "libvirtd.conf")
        with open(conf, "w") as f:
            f.write('log_filters="1:qemu.qemu_monitor 3:*"\n'
                    f'log_outputs="1:file:{self.log_path}"\n')
        if not pids_named("virtlogd"):
            # No systemd socket activation here: libvirtd needs it running.
            self.virtlogd = subprocess.Popen(["virtlogd"], stdin=subprocess.DEVNULL,
                                             stdout=subprocess.DEVNULL,
                                             stderr=subprocess.DEVNULL)
        cmd = ["libvirtd", "-f", conf]
        if os.path.exists("/dev/kvm"):
            # Where /dev/kvm exists but the qemu user cannot open it (root 0600
            # here), libvirt 9.0 probes QEMU as having KVM, then finds the
            # cache "outdated" on every lookup and re-probes capabilities in
            # each `virsh create` (~65 s under TCG, 35 QEMU probes). Hide
            # /dev/kvm from this libvirtd only, as on a host without KVM: the
            # domains are TCG anyway. The mount namespace dies with it.
            # libvirt cannot move that file mount into its per-domain /dev
            # namespace, so this libvirtd also gets qemu.conf namespaces=[]
            # (an /etc/libvirt copy bound over the real one, same namespace):
            # it skips building a private /dev, which only flatters libvirt.
            nokvm = os.path.join(self.workdir, "nokvm")
            open(nokvm, "w").close()
            os.chmod(nokvm, 0)
            etc = os.path.join(self.workdir, "etc-libvirt")
            shutil.copytree("/etc/libvirt", etc)
            with open(os.path.join(etc, "qemu.conf"), "a") as f:
                f.write("\nnamespaces = []\n")
            cmd = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                   'mount --bind "$0" /dev/kvm && mount --bind "$1" /etc/libvirt'
                   ' && shift && exec "$@"', nokvm, etc, *cmd]
        self.daemon = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while not self.answers():
            if self.daemon.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"libvirtd did not come up on {self.uri}; see "
                                   f"{self.log_path} (is the libvirt-qemu user there?)")
            time.sleep(0.1)

    def log_offset(self):
        return os.path.getsize(self.log_path) if self.log_path else 0

    def qmp_commands(self, since):
        if not self.log_path:
            return []
        with open(self.log_path, errors="replace") as f:
            f.seek(since)
            return QMP_SEND.findall(f.read())

    def destroy(self):
        self.virsh("destroy", DOMAIN, check=False)

    def stop(self):
        for proc in (self.daemon, self.virtlogd):
            if proc is None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def run_libvirt(lv, xml_path, serial_path):
    """Returns (create->marker s, virsh create s, QMP commands during create)."""
    offset = lv.log_offset()
    start = time.monotonic()
    lv.virsh("create", xml_path)
    created = time.monotonic() - start
    commands = lv.qmp_commands(offset)
    try:
        console = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        console.connect(serial_path)
        boot_compare.wait_marker(lambda: console.recv(65536), console, start + 120)
        elapsed = time.monotonic() - start
        console.close()
        return elapsed, created, commands
    finally:
        lv.destroy()


def libvirt_memory(lv, xml_path, serial_path):
    """RSS of libvirtd + virtlogd with one guest up."""
    lv.virsh("create", xml_path)
    try:
        console = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        console.connect(serial_path)
        boot_compare.wait_marker(lambda: console.recv(65536), console,
                                 time.monotonic() + 120)
        console.close()
        return {name: sum(rss_kib(p) for p in pids_named(name))
                for name in ("libvirtd", "virtqemud", "virtlogd") if pids_named(name)}
    finally:
        lv.destroy()


def qdirect_memory(vmctl, manifest, env):
    """VmRSS of the qdirect-launcher keeping a started VM, once the guest is up."""
    out = subprocess.run([vmctl, "start", manifest], env=env, check=True,
                         capture_output=True, text=True).stdout
    pid = int(re.search(r"launcher pid (\d+)", out).group(1))
    vm = re.search(r"vm (\S+) running", out).group(1)
    try:
        deadline = time.monotonic() + 120
        while "QDIRECT-GUEST-UP" not in subprocess.run(
                [vmctl, "console", vm, "--log"], env=env, capture_output=True,
                text=True).stdout:
            if time.monotonic() > deadline:
                raise TimeoutError("qdirect guest marker")
            time.sleep(0.2)
        return rss_kib(pid)
    finally:
        subprocess.run([vmctl, "kill", vm], env=env, capture_output=True)
        subprocess.run([vmctl, "stop", vm, "--grace", "1"], env=env, capture_output=True)


def ms(seconds):
    return f"{seconds * 1000:7.1f} ms"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--vmctl", default="build/tools/vmctl/vmctl")
    parser.add_argument("--manifest", default="examples/testvm.yaml")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--uri", default="qemu:///system")
    args = parser.parse_args()

    have_virsh = shutil.which("virsh") is not None
    if not have_virsh:
        print("libvirt: virsh not found, skipping the libvirt side "
              "(apt-get install libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients)")
    results = {"raw": [], "vmctl": [], "libvirt": []}
    creates, qmp_counts, qmp_kinds = [], [], {}
    mem = {}
    with tempfile.TemporaryDirectory(prefix="qdirect-bench-") as runtime, \
            tempfile.TemporaryDirectory(prefix="qdirect-bench-lv-") as lvdir:
        os.chmod(runtime, 0o755)
        os.chmod(lvdir, 0o755)
        env = dict(os.environ, QDIRECT_RUNTIME_DIR=runtime, QDIRECT_ACCEL="tcg")
        argv = json.loads(subprocess.run([args.vmctl, "render", args.manifest, "--json"],
                                         env=env, check=True, capture_output=True).stdout)
        lv = None
        try:
            if have_virsh:
                cmdline, kernel, initrd = kernel_args(argv)
                # Copies, so dynamic_ownership chowns these and not the image store.
                boot = os.path.join(lvdir, "boot")
                os.mkdir(boot, 0o755)
                for src in (kernel, initrd):
                    dst = os.path.join(boot, os.path.basename(src))
                    shutil.copyfile(src, dst)
                    os.chmod(dst, 0o644)
                # QEMU runs as the libvirt qemu user and binds the sockets here.
                sockdir = os.path.join(lvdir, "sock")
                os.mkdir(sockdir)
                try:
                    qemu_user = pwd.getpwnam("libvirt-qemu")
                    os.chown(sockdir, qemu_user.pw_uid, qemu_user.pw_gid)
                    os.chmod(sockdir, 0o755)
                except KeyError:
                    os.chmod(sockdir, 0o1777)
                serial = os.path.join(sockdir, "serial.sock")
                xml_path = os.path.join(lvdir, "domain.xml")
                with open(xml_path, "w") as f:
                    f.write(DOMAIN_XML.format(
                        name=DOMAIN, kernel=os.path.join(boot, os.path.basename(kernel)),
                        initrd=os.path.join(boot, os.path.basename(initrd)),
                        cmdline=cmdline, serial=serial,
                        agent=os.path.join(sockdir, "agent.sock")))
                lv = Libvirt(args.uri, lvdir)
                t = time.monotonic()
                lv.start()
                print(f"libvirt: daemon answering after {time.monotonic() - t:.1f} s")
                lv.destroy()  # a leftover from an interrupted run
                # Warm-up: libvirt probes QEMU's capabilities on first use.
                run_libvirt(lv, xml_path, serial)
            for _ in range(args.runs):
                results["raw"].append(boot_compare.run_raw(argv, runtime))
                results["vmctl"].append(boot_compare.run_vmctl(args.vmctl, args.manifest, env))
                if lv:
                    elapsed, created, commands = run_libvirt(lv, xml_path, serial)
                    results["libvirt"].append(elapsed)
                    creates.append(created)
                    qmp_counts.append(len(commands))
                    for c in commands:
                        qmp_kinds[c] = qmp_kinds.get(c, 0) + 1
            mem["qdirect-launcher"] = qdirect_memory(args.vmctl, args.manifest, env)
            if lv:
                mem.update(libvirt_memory(lv, xml_path, serial))
        finally:
            if lv:
                lv.destroy()
                lv.stop()
                # libvirt appends every start of the domain to this log.
                try:
                    os.unlink(f"/var/log/libvirt/qemu/{DOMAIN}.log")
                except OSError:
                    pass

    p50 = {k: statistics.median(v) for k, v in results.items() if v}
    print()
    for side, times in results.items():
        if times:
            print(f"{side:8s} start->marker p50 {ms(p50[side])}  min {ms(min(times))}"
                  f"  ratio vs raw {p50[side] / p50['raw']:.3f}  ({len(times)} runs)")
    if creates:
        print(f"virsh create returns   p50 {ms(statistics.median(creates))}"
              f"  min {ms(min(creates))}")
    if qmp_counts and any(qmp_counts):
        runs = len(qmp_counts)
        top = sorted(qmp_kinds.items(), key=lambda kv: -kv[1])[:5]
        print(f"QMP commands per virsh create: {min(qmp_counts)}..{max(qmp_counts)}; "
              "most sent (per run): " +
              ", ".join(f"{k} {v / runs:g}" for k, v in top))
    for name, kib in mem.items():
        print(f"RSS {name:16s} {kib / 1024:6.1f} MiB")

    # README table.
    print("\n| side | start → guest marker p50 (min) | vs raw | beside QEMU |")
    print("|---|---|---|---|")
    raw_note = "nothing"
    print(f"| raw QEMU | {p50['raw'] * 1000:.0f} ms ({min(results['raw']) * 1000:.0f}) "
          f"| 1.00 | {raw_note} |")
    print(f"| vmctl run | {p50['vmctl'] * 1000:.0f} ms ({min(results['vmctl']) * 1000:.0f}) "
          f"| {p50['vmctl'] / p50['raw']:.2f} | qdirect-launcher "
          f"{mem['qdirect-launcher'] / 1024:.1f} MiB |")
    if results["libvirt"]:
        beside = " + ".join(f"{n} {k / 1024:.1f} MiB" for n, k in mem.items()
                            if n != "qdirect-launcher")
        extra = f"; virsh create {statistics.median(creates) * 1000:.0f} ms"
        if qmp_counts and any(qmp_counts):
            extra += f", {int(statistics.median(qmp_counts))} QMP commands"
        print(f"| libvirt 9.0 (virsh create) | {p50['libvirt'] * 1000:.0f} ms "
              f"({min(results['libvirt']) * 1000:.0f}){extra} "
              f"| {p50['libvirt'] / p50['raw']:.2f} | {beside} |")


if __name__ == "__main__":
    main()
