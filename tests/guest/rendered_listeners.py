"""Listening sockets for a QEMU argv rendered by `vmctl render`.

The rendered argv serves QMP, the serial console and the guest agent on
listening unix sockets that the launcher binds and passes at fixed fds
(`-chardev socket,id=console,fd=4,server=on,wait=off`). A script that execs
that argv itself (raw-QEMU comparisons, the rendered-argv boot test) does the
same: bind() binds one socket per such chardev in a directory of its choosing
and places each at its fd, ready for subprocess.Popen(pass_fds=...).
"""

import fcntl
import os
import re
import socket

_CHARDEV_FD = re.compile(r"socket,id=([A-Za-z0-9_.-]+),fd=(\d+),")


def bind(argv, sock_dir):
    """Returns ({chardev id: socket path}, [child fds to pass])."""
    wanted = {}
    for arg in argv:
        m = _CHARDEV_FD.match(arg)
        if m:
            wanted[int(m.group(2))] = m.group(1)
    # Bind everything first, parked above the range, so placing one socket
    # at its fd never closes another that happens to sit there.
    parked = []
    paths = {}
    for fd, name in wanted.items():
        path = os.path.join(sock_dir, f"{name}.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        s.listen(4)
        parked.append((fd, fcntl.fcntl(s.fileno(), fcntl.F_DUPFD, 100)))
        s.close()
        paths[name] = path
    for fd, high in parked:
        os.dup2(high, fd)
        os.close(high)
    return paths, sorted(wanted)
