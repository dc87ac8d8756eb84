"""``maillab bench scale``'s pure parts: the size lists, the smaps_rollup
arithmetic, which processes are the lab's, grouping by host kind, the
extrapolation. No lab, no timing."""
import pytest

from lab.cli import bench_scale, scale_probe
from lab.cli.maillab import build_parser

# /proc/PID/smaps_rollup of a Python server (Linux 6.1), trimmed
ROLLUP = """\
55d0c0a3e000-7ffd5b9f4000 ---p 00000000 00:00 0                          [rollup]
Rss:               31232 kB
Pss:               25210 kB
Pss_Dirty:         21100 kB
Pss_Anon:          21080 kB
Pss_File:           4130 kB
Pss_Shmem:             0 kB
Shared_Clean:       7424 kB
Shared_Dirty:          0 kB
Private_Clean:      2700 kB
Private_Dirty:     21108 kB
Referenced:        31232 kB
Anonymous:         21080 kB
Swap:                  0 kB
SwapPss:               0 kB
Locked:                0 kB
"""


def test_a_rollup_gives_pss_rss_and_uss_as_private_clean_plus_dirty():
    r = scale_probe.parse_rollup(ROLLUP)
    assert (r["Rss"], r["Pss"], r["Uss"], r["Swap"]) == (31232, 25210, 2700 + 21108, 0)
    assert "Pss_Dirty" not in r


def test_an_empty_rollup_gives_nothing():
    assert scale_probe.parse_rollup("") == {}


def test_meminfo_fields_in_kib():
    info = scale_probe.parse_meminfo("MemTotal:       24683772 kB\n"
                                     "MemAvailable:   20323332 kB\nHugePages_Total:       0\n")
    assert info == {"MemTotal": 24683772, "MemAvailable": 20323332, "HugePages_Total": 0}


def test_sums_over_processes():
    rows = [dict(scale_probe.parse_rollup(ROLLUP), fds=12, threads=3, cpu_s=0.25),
            {"Pss": 100, "Uss": 80, "Rss": 900, "fds": 3, "cpu_s": 0.5}]
    assert bench_scale.sum_figures(rows) == {
        "pss": 25310, "uss": 23888, "rss": 32132, "fds": 15, "threads": 4, "cpu_s": 0.75,
        "processes": 2}


@pytest.mark.parametrize("dcs, mx, sizes", [
    ("2,5,10", "5", [(2, 5), (5, 5), (10, 5)]),
    ("10,2", "25,5", [(2, 5), (2, 25), (10, 5), (10, 25)]),
    (" 4 ", "4,", [(4, 4)]),
])
def test_sizes_are_every_pair_smallest_lab_first(dcs, mx, sizes):
    assert bench_scale.parse_sizes(dcs, mx) == sizes


@pytest.mark.parametrize("dcs, mx, message", [
    ("2,x", "5", "--dcs: not a list of numbers"),
    ("2", "0", "--mx-per-dc: numbers of 1 or more"),
    ("", "5", "--dcs: numbers of 1 or more"),
    ("2,2", "5", "--dcs: a number is listed twice"),
])
def test_a_wrong_size_list_says_which_option(dcs, mx, message):
    with pytest.raises(ValueError, match=message):
        bench_scale.parse_sizes(dcs, mx)


def test_the_bench_command_takes_the_scale_options():
    args = build_parser().parse_args(["bench", "scale", "--dcs", "2,5", "--mx-per-dc", "5,25",
                                      "--send", "3", "--cluster", "localhost,127.0.0.2:2222"])
    assert (args.what, args.dcs, args.mx_per_dc, args.send, args.cluster,
            args.keep_available) == ("scale", "2,5", "5,25", 3, "localhost,127.0.0.2:2222",
                                     6.0)


def _proc(ppid, cmd="python3 -m servers.mx", tagged=False):
    return {"ppid": ppid, "cmd": cmd, "tagged": tagged}


# a machine: init (1); a listening sshd (50) with a session (51, 52) running a tagged
# process (53) and its child (54); the bench (100) with a shell (101) and a server
# (102) under it; someone else's process (200)
TABLE = {1: _proc(0, "/sbin/init"),
         50: _proc(1, "sshd: /usr/sbin/sshd -D -f /tmp/x [listener] 0 of 100-200 startups"),
         51: _proc(50, "sshd: root [priv]"), 52: _proc(51, "sshd: root@notty"),
         53: _proc(52, "mnexec -a 999 python3 -m servers.mx", tagged=True),
         54: _proc(53, "ip monitor route"),
         100: _proc(1, "maillab bench scale"), 101: _proc(100, "bash --norc -is mininet:mx1"),
         102: _proc(100, "python3 -m servers.mx"),
         200: _proc(1, "someone-else")}


def test_the_lab_is_the_tree_under_the_roots():
    assert scale_probe.lab_pids(TABLE, [100], tagged=False) == {100, 101, 102}


def test_on_another_server_tagged_trees_and_their_ssh_sessions_up_to_the_listener():
    assert scale_probe.lab_pids(TABLE, [], tagged=True, sessions=True) == {51, 52, 53, 54}
    assert scale_probe.lab_pids(TABLE, [], tagged=True) == {53, 54}


def test_a_root_that_has_ended_is_ignored():
    assert scale_probe.lab_pids(TABLE, [4242], tagged=False) == set()


def test_processes_are_grouped_by_their_hosts_namespace_else_switch_or_control():
    procs = [{"pid": 1, "netns": 7}, {"pid": 2, "netns": 7}, {"pid": 3, "netns": 1},
             {"pid": 4, "netns": 1}, {"pid": 5, "netns": 8}]
    groups = bench_scale.group_by_kind(procs, {7: "mx", 8: "router"}, switch_pids={3})
    assert {k: [p["pid"] for p in v] for k, v in groups.items()} == {
        "mx": [1, 2], "switch": [3], "control": [4], "router": [5]}


def test_node_kinds_from_the_plan_routers_and_switches():
    from topologies.addressing import build_plan
    plan = build_plan(dcs=2, mx_per_dc=(1, 1))
    kinds = bench_scale.node_kinds(plan, list(plan.hosts) + ["r0"], ["s1"])
    assert kinds["mx1"] == "mx" and kinds["r0"] == "router" and kinds["s1"] == "switch"
    assert kinds[plan.relay.name] == "relay"


def test_extrapolation_from_the_two_largest_sizes():
    # 0.5 GiB fixed, 30 MiB per messaging server
    points = [(10, 512 * 1024 + 10 * 30 * 1024), (50, 512 * 1024 + 50 * 30 * 1024),
              (250, 512 * 1024 + 250 * 30 * 1024)]
    fit = bench_scale.extrapolate(points, available_kib=20 * 1024 * 1024)
    assert fit["kib_per_mx"] == 30 * 1024
    assert fit["mx_at_floor"] == int((20 * 1024 - 512) / 30)
    kept = bench_scale.extrapolate(points, 20 * 1024 * 1024, floor_kib=6 * 1024 * 1024)
    assert kept["mx_at_floor"] == int((14 * 1024 - 512) / 30)


def test_no_extrapolation_from_one_size_or_a_falling_line():
    assert bench_scale.extrapolate([(10, 1000)], 10 ** 6) is None
    assert bench_scale.extrapolate([(10, 2000), (20, 1000)], 10 ** 6) is None


def test_the_need_of_a_next_size_takes_the_dearest_figure_known():
    assert bench_scale.predicted_need([], 100) == 0
    assert bench_scale.predicted_need([(10, 400)], 100) == 4000       # 40 per server
    # 10 alone: 40 per server (the fixed part counted in); 10 -> 50: 30 per server
    assert bench_scale.predicted_need([(10, 400), (50, 1600)], 100) == 4000
    assert bench_scale.predicted_need([(10, 100), (50, 1600)], 10) == 375


def _machine(avail_gib, interfaces=4, boot="a"):
    return {"boot_id": boot, "mem_available_kib": int(avail_gib * 1024 * 1024),
            "interfaces": interfaces, "bridges": 0, "files_open": 1000,
            "load": ["1.00", "0.50", "0.20"]}


def _server(hosts, mx_pss_kib, avail_gib, boot="a"):
    mx = {"pss": mx_pss_kib, "uss": mx_pss_kib - 100, "rss": 0, "fds": 7, "threads": 5,
          "cpu_s": 1.5, "processes": 5 * hosts.get("mx", 0)}
    control = {"pss": 40 * 1024, "uss": 38 * 1024, "rss": 0, "fds": 9, "threads": 2,
               "cpu_s": 3.0, "processes": 1}
    total = {k: mx[k] + control[k] for k in mx}
    return {"machine": _machine(avail_gib, 18, boot), "hosts": hosts, "total": total,
            "groups": {"mx": mx, "control": control}}


def test_one_size_is_printed_with_every_figure_per_server():
    result = {"dcs": 2, "mx_per_dc": 2, "mx": 4, "up_s": 2.34, "down_s": 1.5,
              "before": _machine(19.0), "with_lab": _machine(18.5, 18),
              "after": _machine(19.0), "lowest_available_kib": int(18.4 * 1024 * 1024),
              "before_remote": {"lab2": _machine(20.0, boot="b")},
              "servers": {"localhost": _server({"mx": 2, "client": 2, "switch": 2},
                                               2 * 30 * 1024, 18.5),
                          "lab2": _server({"mx": 2, "dns": 1, "relay": 1, "switch": 1},
                                          2 * 30 * 1024, 19.75, boot="b")},
              "bench_fds": 37, "fd_limit": 20000, "netns_added": 11,
              "sent": 5, "accepted": 5, "delivered": 5, "leftovers": {}}
    text = "\n".join(bench_scale.format_size(result))
    assert text.startswith("n_dc 2 x 2: 8 hosts (client 2, dns 1, mx 4, relay 1), "
                           "3 switches; up 2.3 s, down 1.5 s")
    assert "MemAvailable 19.00 GiB -> 18.50 GiB (-0.50 GiB)" in text
    assert "lab2: MemAvailable 20.00 GiB -> 19.75 GiB (-0.25 GiB)" in text
    assert "per mx host 30.0 MiB PSS" in text
    assert "localhost: 11 processes (1 of them control" in text
    assert "16 descriptors, 4.5 CPU s so far" in text
    assert "+14 interfaces" in text and "the bench process holds 37 descriptors (limit 20000)" \
        in text
    assert "sent 5, accepted 5, delivered 5" in text and "leftovers: none" in text


def test_cluster_is_refused_by_the_other_benches(capsys):
    from lab.cli.bench import cmd_bench
    args = build_parser().parse_args(["bench", "memory", "--cluster", "127.0.0.2"])
    assert cmd_bench(args) == 2
    assert "--cluster is for bench scale only" in capsys.readouterr().err


def test_a_wrong_size_list_is_a_usage_error(capsys):
    args = build_parser().parse_args(["bench", "scale", "--dcs", "2,x"])
    assert bench_scale.cmd_bench_scale(args) == 2
    assert "maillab bench scale: --dcs: not a list of numbers" in capsys.readouterr().err
