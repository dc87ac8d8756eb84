"""Find a lab service's processes in one Mininet host.

Mininet hosts share the process table (one PID namespace) but each has its
own network namespace, so "service S on host H" is: a process whose
network namespace is H's and whose command line names S
(``-m servers.S``, or a program or script called S such as ``postfix``).
"""
import os
import re


def snapshot():
    """[(pid, netns, argv)] for every process we can see."""
    table = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        try:
            netns = os.readlink("/proc/%d/ns/net" % pid)
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
        except OSError:
            continue
        if argv:
            table.append((pid, netns, argv))
    return table


def netns_of(pid):
    return os.readlink("/proc/%d/ns/net" % int(pid))


def names_service(argv, service):
    line = " ".join(argv)
    if re.search(r"-m servers\.%s\b" % re.escape(service), line):
        return True
    # the program itself, or the script an interpreter runs (echo_server.py)
    return any(os.path.splitext(os.path.basename(a))[0] == service for a in argv[:2])


def matching(table, netns, service=None, exclude=()):
    """PIDs in ``netns`` running ``service`` (every process there when None)."""
    return [(pid, argv) for pid, ns, argv in table
            if ns == netns and pid not in exclude
            and (service is None or names_service(argv, service))]


def is_gone(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ", 1)[1][0] in "ZX"
    except (OSError, IndexError):
        return True


def state_of(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ", 1)[1][0]
    except (OSError, IndexError):
        return None


def parent_of(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().split(") ", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None
