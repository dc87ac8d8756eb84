"""``maillab bench scale``: how large an n_dc lab this machine (or these
servers) holds, and what each size costs.

For each size of ``--dcs`` × ``--mx-per-dc`` (smallest first) an n_dc lab is
brought up with every service ready (lab.testbed.mail_lab.Lab, as ``maillab
up`` does), measured, optionally sent ``--send N`` messages, and torn down.
One block of lines per size, then one JSON line:

- hosts by kind (mx, router, client, dns, relay) and switches;
- time to up (the lab's own figure: from the lock held to DNS answering the
  full MX set) and time to tear down;
- memory: the sum of PSS (and USS) over the lab's processes, read from
  ``/proc/PID/smaps_rollup`` (lab/cli/scale_probe.py says which processes
  are the lab's), per messaging-server host (its server, its shell, its route
  keeper: everything in its network namespace), and MemAvailable before the
  lab and with it up: the difference less the processes' PSS is the kernel's
  share (namespaces, veths, bridges, sockets, page cache of the run
  directory) plus whatever else the machine did meanwhile;
- descriptors (the lab's processes together, and the bench process's own
  against its limit), processes and threads against ``kernel.pid_max``,
  network interfaces, bridges and namespaces added;
- with ``--cluster HOST``: the same per server (the lab's data centers
  placed over them as ``maillab up --cluster`` does); a remote server runs
  the probe over the lab's SSH access.

A guard keeps the machine safe: a size whose predicted need (the last size's
MemAvailable drop per messaging server) would leave less than
``--keep-available`` GiB is skipped, and a watcher ends a lab at once
(SIGINT: the lab tears down as on Ctrl-C) if MemAvailable falls below it.
Every lab is torn down on success, failure and signals alike, and ``maillab
clean``'s list of leftovers is printed after each. Not a test: the figures
depend on the machine and on what else runs on it (the load is printed).
"""
import json
import os
import resource
import signal
import sys
import threading
import time

from lab import ROOT
from lab.cli import scale_probe

GIB = 1024 * 1024           # kB in a GiB
MIB = 1024
DEFAULT_DCS = "2,5,10"
DEFAULT_MX = "5"
KEEP_AVAILABLE_GIB = 6.0
WATCH_INTERVAL = 0.5        # seconds between two looks at MemAvailable
PROBE = os.path.join(ROOT, "lab", "cli", "scale_probe.py")


def parse_counts(text, what="count"):
    """``2,5,10`` as [2, 5, 10]: positive whole numbers, no repeats."""
    try:
        counts = [int(word) for word in text.split(",") if word.strip()]
    except ValueError:
        raise ValueError("%s: not a list of numbers: %r" % (what, text)) from None
    if not counts or min(counts) < 1:
        raise ValueError("%s: numbers of 1 or more, comma-separated: %r" % (what, text))
    if len(set(counts)) != len(counts):
        raise ValueError("%s: a number is listed twice: %r" % (what, text))
    return counts


def parse_sizes(dcs, mx_per_dc):
    """Every (dcs, mx per dc) of the two lists, smallest lab first (by messaging
    servers, then data centers)."""
    sizes = [(d, m) for d in parse_counts(dcs, "--dcs")
             for m in parse_counts(mx_per_dc, "--mx-per-dc")]
    return sorted(sizes, key=lambda s: (s[0] * s[1], s[0]))


def sum_figures(procs):
    """{"pss", "uss", "rss" (kB), "fds", "threads", "cpu_s", "processes"} over probe rows."""
    out = {"pss": 0, "uss": 0, "rss": 0, "fds": 0, "threads": 0, "cpu_s": 0.0,
           "processes": len(procs)}
    for p in procs:
        out["pss"] += p.get("Pss", 0)
        out["uss"] += p.get("Uss", 0)
        out["rss"] += p.get("Rss", 0)
        out["fds"] += p.get("fds", 0)
        out["threads"] += p.get("threads", 1)
        out["cpu_s"] += p.get("cpu_s", 0.0)
    out["cpu_s"] = round(out["cpu_s"], 2)
    return out


def group_by_kind(procs, host_netns, switch_pids):
    """{kind: [probe rows]}: a process in a host's network namespace belongs to
    that host's kind (``host_netns``: {netns inode: kind}), a switch's shell
    (``switch_pids``) to "switch", anything else (the bench, ssh, sessions) to
    "control"."""
    groups = {}
    for p in procs:
        if p["netns"] in host_netns:
            kind = host_netns[p["netns"]]
        elif p["pid"] in switch_pids:
            kind = "switch"
        else:
            kind = "control"
        groups.setdefault(kind, []).append(p)
    return groups


def extrapolate(points, available_kib, floor_kib=0):
    """From [(messaging servers, MemAvailable drop kB)] (two sizes or more): the
    drop per messaging server (the slope between the two largest) and how many
    messaging servers would bring MemAvailable (``available_kib``, before any
    lab) down to ``floor_kib``; None with fewer than two distinct sizes."""
    points = sorted(set(points))
    if len(points) < 2 or points[-1][0] == points[-2][0]:
        return None
    (n1, d1), (n2, d2) = points[-2], points[-1]
    slope = (d2 - d1) / (n2 - n1)
    if slope <= 0:
        return None
    base = d2 - slope * n2
    return {"kib_per_mx": slope, "mx_at_floor": int((available_kib - floor_kib - base) / slope)}


def node_kinds(plan, hosts, switches):
    """{node name: kind}: a host's role in the address plan (mx, dns, relay,
    client), "router" for the other hosts of the network, "switch" for switches."""
    kinds = {name: plan.hosts[name].role if name in plan.hosts else "router"
             for name in hosts}
    kinds.update((name, "switch") for name in switches)
    return kinds


# --- measuring a running lab --------------------------------------------------------
def _server_of(node):
    place = getattr(node, "place", None)
    return None if place is None or place.is_local else place


def probe_remote(server, access, roots, tag):
    """scale_probe on ``server`` through ssh: its JSON, pids as ints."""
    status, output = access.run(server, ["python3", PROBE, "--sessions"]
                                + (["--tag", tag] if tag else [])
                                + [str(p) for p in roots], timeout=120)
    line = [w for w in output.splitlines() if w.startswith("{")]
    if status != 0 or not line:
        raise RuntimeError("probe on %s: %s" % (server, output.strip()[-500:]))
    result = json.loads(line[-1])
    result["procs"] = {int(k): v for k, v in result["procs"].items()}
    return result


def remote_machines(cluster, local_boot_id):
    """{server: machine()} of a cluster's other servers that are other machines
    (another kernel than ``local_boot_id``'s)."""
    out = {}
    for server in (cluster.servers if cluster is not None else ()):
        if not server.is_local:
            m = probe_remote(server, cluster.access, [], None)
            if m["boot_id"] != local_boot_id:
                out[str(server)] = {k: v for k, v in m.items() if k != "procs"}
    return out


def measure_lab(lab):
    """{server name: {"machine": ..., "groups": {kind: sums}, "total": sums,
    "hosts": {kind: count}}} of a running lab, and the bench process's own fds."""
    kinds = node_kinds(lab.plan, [n.name for n in lab.net.hosts],
                       [n.name for n in lab.net.switches])
    by_server = {}
    for node in list(lab.net.hosts) + list(lab.net.switches):
        by_server.setdefault(_server_of(node), []).append(node)
    probes = {None: scale_probe.probe([os.getpid()])}
    for server, nodes in by_server.items():
        if server is not None:
            probes[server] = probe_remote(server, lab.cluster.access,
                                          [n.pid for n in nodes], lab.net.run_tag)
    seen, out = set(), {}
    local_boot = probes[None]["boot_id"]
    for server, result in probes.items():
        same_kernel = result["boot_id"] == local_boot
        procs = []
        for pid, row in result["procs"].items():
            if same_kernel and pid in seen:
                continue
            if same_kernel:
                seen.add(pid)
            procs.append(dict(row, pid=pid))
        nodes = by_server.get(server, [])
        netns_of = {pid: row["netns"] for pid, row in result["procs"].items()}
        host_netns = {netns_of[n.pid]: kinds[n.name] for n in nodes
                      if kinds[n.name] != "switch" and n.pid in netns_of}
        switch_pids = {n.pid for n in nodes if kinds[n.name] == "switch"}
        hosts = {}
        for n in nodes:
            hosts[kinds[n.name]] = hosts.get(kinds[n.name], 0) + 1
        groups = group_by_kind(procs, host_netns, switch_pids)
        out[str(server or "localhost")] = {
            "machine": {k: v for k, v in result.items() if k != "procs"},
            "hosts": hosts, "total": sum_figures(procs),
            "groups": {kind: sum_figures(rows) for kind, rows in groups.items()}}
    return out


def bench_process_fds():
    return len(os.listdir("/proc/self/fd")), resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def kernel_limits():
    """The kernel's limits a large lab meets first."""
    def sysctl(name):
        try:
            with open("/proc/sys/" + name.replace(".", "/")) as f:
                return f.read().split()[0]
        except OSError:
            return "?"
    return {name: sysctl(name) for name in ("kernel.pid_max", "kernel.threads-max",
                                            "fs.file-max", "user.max_net_namespaces")}


class MemoryWatch:
    """While a lab is up or coming up: SIGINT to this process (the lab tears down
    as on Ctrl-C) as soon as MemAvailable falls under ``floor_kib``."""

    def __init__(self, floor_kib, interval=WATCH_INTERVAL):
        self.floor_kib, self.interval = floor_kib, interval
        self.lowest = None
        self.tripped = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._done.wait(self.interval):
            avail = scale_probe.machine()["mem_available_kib"]
            self.lowest = avail if self.lowest is None else min(self.lowest, avail)
            if avail < self.floor_kib and not self.tripped:
                self.tripped = True
                os.kill(os.getpid(), signal.SIGINT)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join()
        return False


def wait_delivered(lab, count, timeout=60.0):
    """Messages in the messaging servers' Maildirs, once ``count`` are there or
    ``timeout`` passed (a lab over several servers: gathered first)."""
    names = [info.name for info in lab.plan.by_role("mx")]
    deadline = time.monotonic() + timeout
    while True:
        if lab.cluster is not None:
            lab.gather_evidence()
        n = sum(len(lab.messages(name)) for name in names)
        if n >= count or time.monotonic() > deadline:
            return n
        time.sleep(0.5)     # wait: polling Maildirs for deliveries in flight


def run_size(dcs, mx_per_dc, cluster=None, send=0, floor_kib=0):
    """Up, measure, send, down: one size's figures."""
    from lab.host.clean import leftovers
    from lab.host.lock import lab_lock
    from lab.testbed.mail_lab import Lab
    result = {"dcs": dcs, "mx_per_dc": mx_per_dc, "mx": dcs * mx_per_dc}
    with lab_lock(timeout=900.0):
        before = scale_probe.machine()
        ns_before = scale_probe.probe([])["netns_in_use"]
        result["before"] = before
        result["before_remote"] = remote_machines(cluster, before["boot_id"])
        with MemoryWatch(floor_kib) as watch:
            lab = Lab("n_dc", dcs=dcs, mx_per_dc=mx_per_dc, cluster=cluster)
            lab.__enter__()
            try:
                result["up_s"] = round(lab.timings["up"], 2)
                result["servers"] = measure_lab(lab)
                result["bench_fds"], result["fd_limit"] = bench_process_fds()
                result["netns_added"] = scale_probe.probe([])["netns_in_use"] - ns_before
                result["with_lab"] = scale_probe.machine()
                if send:
                    rows = lab.send(send)
                    result["sent"], result["accepted"] = send, len(rows)
                    result["delivered"] = wait_delivered(lab, len(rows))
            finally:
                t0 = time.monotonic()
                lab.__exit__(None, None, None)
                result["down_s"] = round(time.monotonic() - t0, 2)
        result["lowest_available_kib"] = watch.lowest
        result["after"] = scale_probe.machine()
    result["leftovers"] = leftovers()
    return result


def predicted_need(points, mx):
    """kB a lab of ``mx`` messaging servers is expected to take, from [(mx, kB)] of
    the sizes measured so far (MemAvailable drops and PSS sums alike): the
    steepest slope, or the largest cost per server when one size is known."""
    if not points:
        return 0
    per_mx = max(kib / n for n, kib in points)
    for a in points:
        for b in points:
            if b[0] > a[0]:
                per_mx = max(per_mx, (b[1] - a[1]) / (b[0] - a[0]))
    return per_mx * mx


# --- printing -----------------------------------------------------------------------
def _gib(kib):
    return "%.2f GiB" % (kib / GIB)


def _mib(kib):
    return "%.1f MiB" % (kib / MIB)


def format_size(r):
    """The lines of one size."""
    lines = []
    hosts = {}
    for s in r["servers"].values():
        for kind, n in s["hosts"].items():
            hosts[kind] = hosts.get(kind, 0) + n
    switches = hosts.pop("switch", 0)
    lines.append("n_dc %d x %d: %d hosts (%s), %d switches; up %.1f s, down %.1f s; load %s"
                 % (r["dcs"], r["mx_per_dc"], sum(hosts.values()),
                    ", ".join("%s %d" % kv for kv in sorted(hosts.items())), switches,
                    r["up_s"], r["down_s"], " ".join(r["with_lab"]["load"])))
    total_pss = sum(s["total"]["pss"] for s in r["servers"].values())
    drop = r["before"]["mem_available_kib"] - r["with_lab"]["mem_available_kib"]
    lines.append("  memory: lab processes %s PSS (%s USS); MemAvailable %s -> %s (-%s), "
                 "so the kernel and the rest %s"
                 % (_gib(total_pss), _gib(sum(s["total"]["uss"] for s in r["servers"].values())),
                    _gib(r["before"]["mem_available_kib"]),
                    _gib(r["with_lab"]["mem_available_kib"]), _gib(drop),
                    _gib(drop - total_pss)))
    for name, s in r["servers"].items():
        g = s["groups"]
        n_mx = s["hosts"].get("mx", 0)
        per_mx = g.get("mx", {}).get("pss", 0) / n_mx if n_mx else 0
        parts = ["%s %s" % (kind, _mib(f["pss"])) for kind, f in sorted(g.items())]
        lines.append("  %s: %d processes (%d of them control: the bench, ssh, sshd sessions), "
                     "%d threads, %d descriptors, %.1f CPU s so far, %s PSS (%s); "
                     "per mx host %s PSS, %s USS"
                     % (name, s["total"]["processes"], g.get("control", {}).get("processes", 0),
                        s["total"]["threads"], s["total"]["fds"], s["total"]["cpu_s"],
                        _gib(s["total"]["pss"]), ", ".join(parts),
                        _mib(per_mx), _mib(g.get("mx", {}).get("uss", 0) / n_mx if n_mx else 0)))
    for name, before in r.get("before_remote", {}).items():
        up = r["servers"][name]["machine"]["mem_available_kib"]
        lines.append("  %s: MemAvailable %s -> %s (-%s)" % (
            name, _gib(before["mem_available_kib"]), _gib(up),
            _gib(before["mem_available_kib"] - up)))
    w, b = r["with_lab"], r["before"]
    lines.append("  kernel: +%d interfaces, +%d bridges, +%d network namespaces, +%d files "
                 "open; the bench process holds %d descriptors (limit %d)"
                 % (w["interfaces"] - b["interfaces"], w["bridges"] - b["bridges"],
                    r["netns_added"], w["files_open"] - b["files_open"], r["bench_fds"],
                    r["fd_limit"]))
    if "sent" in r:
        lines.append("  sent %d, accepted %d, delivered %d" % (r["sent"], r["accepted"],
                                                               r["delivered"]))
    lines.append("  after: MemAvailable %s (lowest while up %s); leftovers: %s"
                 % (_gib(r["after"]["mem_available_kib"]),
                    _gib(r["lowest_available_kib"] or 0), r["leftovers"] or "none"))
    return lines


def bench_scale(sizes, cluster=None, send=0, keep_available_gib=KEEP_AVAILABLE_GIB,
                out=sys.stdout):
    floor = int(keep_available_gib * GIB)
    print("kernel limits: %s; cores %d" % (", ".join("%s %s" % kv for kv in
                                                     kernel_limits().items()), os.cpu_count()),
          file=out, flush=True)
    results, drops, psss = [], [], []
    start_avail = scale_probe.machine()["mem_available_kib"]
    for dcs, mx in sizes:
        avail = scale_probe.machine()["mem_available_kib"]
        need = predicted_need(drops + psss, dcs * mx)
        if results and avail - need < floor:
            print("n_dc %d x %d: skipped, it would need about %s and leave %s, under the %s "
                  "kept free" % (dcs, mx, _gib(need), _gib(avail - need), _gib(floor)),
                  file=out, flush=True)
            continue
        r = run_size(dcs, mx, cluster, send, floor)
        results.append(r)
        for line in format_size(r):
            print(line, file=out, flush=True)
        drops.append((r["mx"], r["before"]["mem_available_kib"]
                      - r["with_lab"]["mem_available_kib"]))
        psss.append((r["mx"], sum(s["total"]["pss"] for s in r["servers"].values())))
    fits = {}
    for name, points in (("MemAvailable drop", drops), ("lab PSS", psss)):
        fit = extrapolate(points, start_avail)
        if fit:
            fits[name] = dict(fit, mx_at_keep=extrapolate(points, start_avail,
                                                          floor)["mx_at_floor"])
            print("EXTRAPOLATED, not measured: %s %s per messaging server (slope between the "
                  "two largest sizes); from %s available, about %d messaging servers would "
                  "take it all, %d would leave %s"
                  % (name, _mib(fit["kib_per_mx"]), _gib(start_avail), fit["mx_at_floor"],
                     fits[name]["mx_at_keep"], _gib(floor)), file=out, flush=True)
    print(json.dumps({"sizes": results, "extrapolated": fits}), file=out, flush=True)
    return results


def add_arguments(s):
    """``maillab bench scale``'s own options (the bench parser's)."""
    s.add_argument("--dcs", default=DEFAULT_DCS, metavar="N[,N...]",
                   help="scale: data centers, comma-separated (default %(default)s)")
    s.add_argument("--mx-per-dc", default=DEFAULT_MX, metavar="M[,M...]",
                   help="scale: messaging servers per DC, comma-separated; every pair of "
                        "the two lists is a size (default %(default)s)")
    s.add_argument("--send", type=int, default=0, metavar="N",
                   help="scale: send N messages through each lab (default 0)")
    s.add_argument("--keep-available", type=float, default=KEEP_AVAILABLE_GIB,
                   metavar="GIB", help="scale: skip a size, or end a lab at once, that "
                   "would leave less MemAvailable than this (default %(default)s)")


def cmd_bench_scale(args):
    from lab.cli.cluster import cluster_of
    try:
        sizes = parse_sizes(args.dcs, args.mx_per_dc)
        cluster = cluster_of(args)
    except ValueError as e:
        print("maillab bench scale: %s" % e, file=sys.stderr)
        return 2
    bench_scale(sizes, cluster, args.send, args.keep_available)
    return 0


__all__ = ["bench_scale", "cmd_bench_scale", "extrapolate", "parse_sizes", "sum_figures"]
