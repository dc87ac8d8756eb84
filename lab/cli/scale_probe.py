"""What a lab costs on one server, read from /proc: the probe of ``maillab
bench scale`` (lab/cli/bench_scale.py).

Standard library only, so that a server of a lab spread over several
machines runs it as a plain script (``python3 lab/cli/scale_probe.py``,
from the checkout every server has at the same path) and prints one JSON
object; this machine imports it.

Which processes are the lab's, on one server:

- the process trees under ``roots`` (this machine: the bench itself, whose
  children are every Mininet shell and server; another server: the lab's
  node shells there);
- on another server also every process carrying the lab's tag in its
  environment (``MAILLAB_CLUSTER_RUN=TAG``, lab/host/cluster_net.py), their
  trees, and the SSH sessions above them (``sshd: root@notty``... up to,
  not including, the listening sshd): the price of remote control.

Each is counted once. Memory is the kernel's ``smaps_rollup``: PSS (shared
pages split between their users, so the sum over processes is the memory
they take together) and USS (private pages: what ending the process frees).
"""
import json
import os
import sys

ROLLUP_FIELDS = ("Rss", "Pss", "Private_Clean", "Private_Dirty", "Swap", "SwapPss")
ANCESTOR_LEVELS = 6     # sshd session, its monitor, a login shell, sudo, env: enough


def parse_rollup(text):
    """``/proc/PID/smaps_rollup`` as {field: kB} (the fields of ROLLUP_FIELDS
    present), plus ``Uss`` (Private_Clean + Private_Dirty)."""
    out = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ROLLUP_FIELDS:
            words = rest.split()
            if words and words[0].isdigit():
                out[key] = int(words[0])
    if "Private_Clean" in out or "Private_Dirty" in out:
        out["Uss"] = out.get("Private_Clean", 0) + out.get("Private_Dirty", 0)
    return out


def parse_meminfo(text):
    """``/proc/meminfo`` as {field: kB}."""
    out = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        words = rest.split()
        if words and words[0].isdigit():
            out[key] = int(words[0])
    return out


def is_daemon(cmdline):
    """A process the ancestor walk stops at: the listening sshd (``sshd: ...
    [listener] ...``, or ``sshd -D`` as started), init."""
    words = cmdline.split()
    if "[listener]" in cmdline:
        return True
    return bool(words) and os.path.basename(words[0]).startswith("sshd") and "-D" in words


def lab_pids(table, roots=(), tagged=True, sessions=False):
    """The pids of the lab among ``table`` ({pid: {"ppid", "cmd", "tagged"}}):
    the trees under ``roots``, with ``tagged`` the trees under processes with the
    lab's tag, with ``sessions`` their ancestors up to a daemon (is_daemon) or
    init, at most ANCESTOR_LEVELS up."""
    children = {}
    for pid, p in table.items():
        children.setdefault(p["ppid"], []).append(pid)
    seeds = [pid for pid in roots if pid in table]
    if tagged:
        seeds += [pid for pid, p in table.items() if p.get("tagged")]
    selected, todo = set(), list(seeds)
    while todo:
        pid = todo.pop()
        if pid in selected:
            continue
        selected.add(pid)
        todo.extend(children.get(pid, ()))
    if sessions:
        for pid in list(selected):
            up = table[pid]["ppid"]
            for _ in range(ANCESTOR_LEVELS):
                if up <= 1 or up not in table or up in selected or is_daemon(table[up]["cmd"]):
                    break
                selected.add(up)
                up = table[up]["ppid"]
    return selected


def _read(path, mode="r"):
    try:
        with open(path, mode) as f:
            return f.read()
    except OSError:     # the process ended meanwhile, or it is a kernel thread
        return None


def process_table(tag=None):
    """{pid: {"ppid", "cmd", "netns", "tagged"}} of every process on this machine."""
    marker = ("MAILLAB_CLUSTER_RUN=%s" % tag).encode() if tag else None
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        stat = _read("/proc/%d/stat" % pid)
        if stat is None:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        cmd = (_read("/proc/%d/cmdline" % pid, "rb") or b"").replace(b"\0", b" ")
        try:
            netns = os.stat("/proc/%d/ns/net" % pid).st_ino
        except OSError:
            netns = 0
        tagged = False
        if marker:
            environ = _read("/proc/%d/environ" % pid, "rb") or b""
            tagged = marker in environ.split(b"\0")
        table[pid] = {"ppid": ppid, "cmd": cmd.decode(errors="replace").strip(),
                      "netns": netns, "tagged": tagged}
    return table


def measure(pid):
    """{Pss, Uss, Rss... (kB), fds, threads, cpu_s (user + system seconds so far,
    its own and its ended children's)} of one process, or None once it is gone."""
    rollup = _read("/proc/%d/smaps_rollup" % pid)
    if rollup is None:
        return None
    out = parse_rollup(rollup)
    try:
        out["fds"] = len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        out["fds"] = 0
    stat = _read("/proc/%d/stat" % pid)
    if stat:
        fields = stat.rsplit(")", 1)[1].split()
        # utime, stime, and the children's it has reaped (ip, sysctl, tc...)
        out["cpu_s"] = sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    status = _read("/proc/%d/status" % pid) or ""
    for line in status.splitlines():
        if line.startswith("Threads:"):
            out["threads"] = int(line.split()[1])
    return out


def machine():
    """This server's identity and the kernel-wide figures around a lab."""
    meminfo = parse_meminfo(_read("/proc/meminfo") or "")
    nets = os.listdir("/sys/class/net")
    file_nr = (_read("/proc/sys/fs/file-nr") or "0 0 0").split()
    return {"boot_id": (_read("/proc/sys/kernel/random/boot_id") or "").strip(),
            "mem_available_kib": meminfo.get("MemAvailable", 0),
            "mem_total_kib": meminfo.get("MemTotal", 0),
            "interfaces": len(nets),
            "bridges": sum(os.path.isdir("/sys/class/net/%s/bridge" % n) for n in nets),
            "files_open": int(file_nr[0]),
            "load": (_read("/proc/loadavg") or "").split()[:3]}


def probe(roots=(), tag=None, sessions=False):
    """One server's figures: machine(), the number of network namespaces in use,
    and {pid: measure + cmd, netns} of the lab's processes (lab_pids)."""
    table = process_table(tag)
    pids = lab_pids(table, roots, tagged=bool(tag), sessions=sessions)
    procs = {}
    for pid in sorted(pids):
        m = measure(pid)
        if m is not None:
            procs[pid] = dict(m, cmd=table[pid]["cmd"][:120], netns=table[pid]["netns"],
                              ppid=table[pid]["ppid"])
    return dict(machine(), netns_in_use=len({p["netns"] for p in table.values()}),
                processes_on_machine=len(table), procs=procs)


def main(argv=None):
    """``scale_probe.py [--tag TAG] [--sessions] [ROOT_PID...]``: probe() as JSON."""
    argv = list(sys.argv[1:] if argv is None else argv)
    tag, sessions = None, False
    if "--sessions" in argv:
        argv.remove("--sessions")
        sessions = True
    if "--tag" in argv:
        i = argv.index("--tag")
        tag = argv[i + 1]
        del argv[i:i + 2]
    json.dump(probe([int(a) for a in argv], tag, sessions), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
