"""The live page's watcher: what it reads from a run directory (files only)."""
import json
import os
import types

from lab.netview.live_state import LiveState
from lab.netview.drawing import drawing
from lab.web.watcher import EventTail, LabWatcher
from topologies.addressing import build_plan


def write(path, *events, end="\n"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a") as f:
        f.write("".join(json.dumps(e) + "\n" for e in events[:-1]) + json.dumps(events[-1]) + end)


def test_the_tail_reads_each_line_once_and_waits_for_a_line_being_written(tmp_path):
    tail = EventTail(str(tmp_path))
    write(str(tmp_path / "mx1" / "events.jsonl"), {"ts": 2, "event": "delivered"})
    write(str(tmp_path / "lab-events.jsonl"), {"ts": 1, "event": "created"})
    assert [e["event"] for e in tail.read()] == ["created", "delivered"]    # in time order
    assert tail.read() == []
    path = tmp_path / "faults" / "events.jsonl"
    write(str(path), {"ts": 3, "event": "fault_start"}, end="")           # no newline yet
    assert tail.read() == []
    with open(str(path), "a") as f:
        f.write("\n")
    assert [e["event"] for e in tail.read()] == ["fault_start"]


def fake_lab(tmp_path, plan):
    os.makedirs(str(tmp_path / "relay1" / "queue"), exist_ok=True)
    service = types.SimpleNamespace(kind="mx", alive=lambda: True)
    return types.SimpleNamespace(rundir=str(tmp_path), plan=plan, net=None,
                                 services={"mx1": service})


def test_a_tick_feeds_events_processes_and_the_queue_depth(tmp_path):
    plan = build_plan()
    lab = fake_lab(tmp_path, plan)
    state = LiveState(drawing(plan), started=0.0)
    watcher = LabWatcher(lab, state, now=lambda: 5.0)
    for name in ("a.q", "b.q", ".c.q", "d.tmp"):
        (tmp_path / "relay1" / "queue" / name).write_text("")
    write(str(tmp_path / "mx1" / "events.jsonl"),
          {"ts": 1.0, "host": "mx1", "service": "mx", "event": "delivered"})
    watcher.tick()
    snap = state.snapshot()
    assert snap["queue"]["depth"] == 2 and snap["totals"]["delivered"] == 1
    assert snap["hosts"]["mx1"]["service_state"] == "up"


def test_a_server_created_in_another_data_center_is_drawn(tmp_path):
    plan = build_plan(dcs=2, mx_per_dc=(1, 1))
    lab = fake_lab(tmp_path, plan)
    state = LiveState(drawing(plan), started=0.0)
    watcher = LabWatcher(lab, state, now=lambda: 1.0)
    plan.plan_new_mx("dc2")
    watcher.tick()
    mx3 = [n for n in state.snapshot()["drawing"]["nodes"] if n["name"] == "mx3"]
    assert mx3 and mx3[0]["dc"] == "dc2"
