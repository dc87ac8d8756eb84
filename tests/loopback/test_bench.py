"""A small run of ``maillab bench relay``: both paths deliver everything."""
import io
import json
import os
import signal

import pytest

from lab.cli.bench import bench_backlog, bench_relay
from lab.testbed.mta_postfix import master_cf
from lab.host.lock import LabBusy
from lab.host.waiting import NotReady, wait_until
from tests.lab.test_signals import Command, assert_clean, machine, orphans, snapshot  # noqa: F401

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (Postfix runs as root)")


def needs_postfix(test):
    return needs_root(pytest.mark.needs_cmd("postfix", "smtp-source")(test))


def test_master_cf_moves_smtpd_and_drops_chroot():
    system = ("# comment\nsmtp      inet  n       -       y       -       -       smtpd\n"
              "  -o x=y\npickup    unix  n       -       y       60      1       pickup\n")
    out = master_cf(system, "127.0.0.1:2526").splitlines()
    assert out[1] == "127.0.0.1:2526 inet n - n - - smtpd"
    assert out[2] == "  -o x=y"
    assert out[3] == "pickup unix n - n 60 1 pickup"


@needs_postfix
@pytest.mark.needs_cmd("smtp-sink")
def test_bench_small_run_prints_json_and_delivers_all():
    out = io.StringIO()
    try:
        result = bench_relay(50, 5, 1024, out=out, timeout=120)
    except LabBusy as e:      # another lab run holds the machine: not this code's failure
        pytest.skip(str(e))
    last = json.loads(out.getvalue().strip().splitlines()[-1])
    assert set(last) == {"sessions", "ours_ingest_per_s", "postfix_ingest_per_s",
                         "ingest_ratio", "ours_per_s", "postfix_per_s", "ratio", "lost",
                         "duplicated"}
    assert last["ours_per_s"] > 0 and last["postfix_per_s"] > 0
    assert last["ours_ingest_per_s"] > 0 and last["postfix_ingest_per_s"] > 0
    assert result["sink_received"] == 100      # 50 through each relay
    assert last["lost"] == 0 and last["duplicated"] == 0


@needs_root
@pytest.mark.needs_cmd("postfix", "smtp-source", "smtp-sink")
def test_backlog_small_run_holds_then_delivers_everything_once():
    out = io.StringIO()
    try:
        result = bench_backlog(60, 5, 512, out=out, timeout=180)
    except LabBusy as e:
        pytest.skip(str(e))
    last = json.loads(out.getvalue().strip().splitlines()[-1])
    assert last == result
    for side in ("ours", "postfix"):
        assert result[side]["received"] == 60, result[side]
        assert result[side]["lost"] == 0 and result[side]["duplicated"] == 0
        assert result[side]["ingest_per_s"] > 0 and result[side]["drain_per_s"] > 0
    assert "rss_per_held_bytes" in result["ours"] and "restart_ready_s" in result["ours"]
    text = out.getvalue()
    assert "our relay" in text and "postfix" in text and "drain, msg/s" in text


def test_the_sinks_files_go_to_memory_only_where_it_has_room(monkeypatch, tmp_path):
    from lab.cli import bench
    room = bench.dump_room(100000, 1024)
    monkeypatch.setattr(bench, "free_bytes", lambda path: 64 << 20)       # a container's
    assert bench.sink_files_parent(str(tmp_path), room) == str(tmp_path)
    monkeypatch.setattr(bench, "free_bytes", lambda path: 12 << 30)
    assert bench.sink_files_parent(str(tmp_path), room) == bench.MEMORY


def bench_dirs():
    return ({"/tmp/" + n for n in os.listdir("/tmp") if n.startswith("maillab-bench-")}
            | {"/dev/shm/" + n for n in os.listdir("/dev/shm") if n.startswith("maillab-sink-")})


@needs_postfix
@pytest.mark.needs_cmd("smtp-sink")
@pytest.mark.parametrize("during", ["our relay", "postfix"])
def test_sigterm_stops_the_bench_and_leaves_no_process_or_file(during, machine, tmp_path):
    """``maillab bench relay`` stopped while one side takes mail: 143, and its
    sinks, client, relay or Postfix and their files are gone (what it leaves
    running comes to this process, the subreaper: tests/lab/test_signals.py)."""
    before, dirs = snapshot(), bench_dirs()
    # the line printed just before the side named by ``during`` starts taking mail
    started = {"our relay": "sink: smtp-sink", "postfix": "our relay: ingest"}[during]
    command = Command(["bench", "relay", "--messages", "3000", "--sessions", "10"], machine,
                      str(tmp_path))
    command.wait_for(started)
    assert command.stop(signal.SIGTERM) == 128 + signal.SIGTERM, command.output
    # the relay's receivers end when the kernel tells them their parent is gone
    try:
        wait_until(lambda: orphans() == [] and bench_dirs() <= dirs, 10,
                   "the bench's processes and files gone")
    except NotReady:
        pass
    assert_clean(before, command, signal.SIGTERM, "maillab bench")
    assert bench_dirs() <= dirs
