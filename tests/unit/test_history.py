from lab.report import series as history
from lab.evidence.queries import message_paths
from tests.unit.run_fixtures import T0, loaded_run, relay_failover_run, remote_run


def final(points):
    return points[-1][1] if points else 0


def test_aggregate_series_match_the_history_counts():
    ev = loaded_run(n=2000, rate=20.0, fault=(10.0, 40.0))
    agg = history.aggregate(ev)
    held = sum(1 for e in ev.events if e["event"] == "queued")
    assert held == 600
    assert final(agg.sent) == len(ev.ledger) == 2000
    assert {h: final(p) for h, p in agg.stored.items()} == {"mx1": 2000}
    # the relay holds every message sent during the fault, and nothing at the end
    assert max(d for _, d in agg.queue) == held and final(agg.queue) == 0
    depth_at = [d for t, d in agg.queue if t < 40.0][-1]
    assert depth_at == held
    relay = [e for e in ev.events if e["service"] == "relay"]
    assert round(sum(agg.attempts) * agg.bin_seconds) == len(history.attempt_times(relay))
    n = sum(1 for e in relay if e["event"] == "deferred")
    assert round(sum(agg.deferrals) * agg.bin_seconds) == n
    assert agg.bin_seconds == 1 and len(agg.bins) == len(agg.attempts) == 102
    # nothing is deferred outside the fault
    assert all(r == 0 for t, r in zip(agg.bins, agg.deferrals) if t < 10 or t >= 41)
    assert [(w.start, w.stop, w.label, w.instant) for w in agg.faults] == \
        [(10.0, 40.0, "blackhole mx1", False)]


def test_the_size_of_the_aggregate_does_not_grow_with_the_load():
    small = history.aggregate(loaded_run(n=200, rate=2.0))
    big = history.aggregate(loaded_run(n=2000, rate=20.0))
    assert len(small.bins) == len(big.bins)


def test_long_runs_get_wider_bins_and_per_second_rates():
    assert history.bin_width(100) == 1 and history.bin_width(900) == 3
    assert history.rate([0.5, 1.0, 2.9, 7.0], 0.0, 3.0, 2) == [1.0, 0.0]


def test_queue_depth_restarts_from_what_the_relay_found():
    evs = [{"ts": T0 + 1, "service": "relay", "event": "queued"},
           {"ts": T0 + 2, "service": "relay", "event": "queued"},
           {"ts": T0 + 3, "service": "relay", "event": "queue_loaded", "messages": 2},
           {"ts": T0 + 4, "service": "relay", "event": "delivered"},
           {"ts": T0 + 5, "service": "mx", "event": "delivered"}]
    assert history.queue_depth(evs, T0) == [(1, 1), (2, 2), (3, 2), (4, 1)]


def test_a_destroyed_host_is_shaded_until_a_server_is_created(tmp_path):
    ev, _ = remote_run(tmp_path)
    agg = history.aggregate(ev)
    (w,) = agg.faults
    assert (w.start, round(w.stop, 3), w.instant) == (0.0, 4.9, False)
    assert [text for _, text in agg.marks] == ["relay asks for a new server",
                                               "created mx2 in dc2"]


def test_fault_windows_pair_starts_and_ends():
    evs = [{"ts": 1, "event": "fault_start", "host": "h", "fault": "cut", "args": ["a", "b"]},
           {"ts": 2, "event": "fault_end", "host": "h", "fault": "cut", "args": ["a", "b"]},
           {"ts": 3, "event": "fault_start", "host": "h", "fault": "cut", "args": ["a", "b"]},
           {"ts": 4, "event": "fault_start", "host": "h", "fault": "destroy", "args": ["mx1"]}]
    assert history.fault_windows(evs, 10) == [(1, 2, "cut a b"), (3, 10, "cut a b"),
                                              (4, 10, "destroy mx1")]


def test_a_small_run_shows_every_message(tmp_path):
    ev, _ = relay_failover_run(tmp_path)
    sample = history.message_sample(message_paths(ev))
    assert sample.complete and len(sample.ids) == 6
    assert sample.caption() == "every message (6)"


def test_a_sample_holds_every_message_that_took_a_rare_path():
    ev = loaded_run(n=2000, rate=20.0, fault=(10.0, 40.0), odd=3)
    paths = message_paths(ev)
    sample = history.message_sample(paths)
    assert history.MAX_ROWS >= len(sample.ids) >= history.SAMPLE_SIZE
    failed_first = [m for m, steps in paths.items() if any(w == "send_failed" for _, w, _ in steps)]
    assert len(failed_first) == 3 and set(failed_first) <= set(sample.ids)
    assert sample.common == "sender -> mx1"
    # sent in the fault's last second: queued, delivered at its end, never deferred
    assert sample.routes["sender -> relay1 -> mx1"][1] == 20
    assert sample.routes["sender -> relay1 -> mx1 (retried)"][1] == 577
    assert sample.caption().startswith("a SAMPLE of %d of 2000 messages" % len(sample.ids))
    firsts = [paths[m][0][0] for m in sample.ids]
    assert firsts == sorted(firsts)


def test_a_sample_of_few_unusual_messages_holds_them_all():
    ev = loaded_run(n=300, rate=10.0, fault=(5.0, 6.5), odd=0)
    paths = message_paths(ev)
    sample = history.message_sample(paths)
    relayed = [m for m, steps in paths.items() if any(w == "relay_queued" for _, w, _ in steps)]
    assert len(relayed) == 15 and set(relayed) <= set(sample.ids)
    assert len(sample.ids) == history.SAMPLE_SIZE
    assert "all 15 that took a less common path" in sample.caption()


def test_routes_say_where_a_message_went():
    assert history.route([(0, "accepted", "relay1"), (1, "relay_queued", "relay1"),
                          (2, "relay_deferred", "mx1"), (3, "relay_rerouted", "mx3"),
                          (4, "stored", "mx3")]) == "sender -> relay1 -> mx3 (retried, re-routed)"
    assert history.route([(0, "accepted", "mx1")]) == "sender -> mx1 (NOT STORED)"


def test_a_plot_zooms_in_when_the_story_is_a_small_part_of_the_run():
    agg = history.aggregate(loaded_run(n=2000, rate=20.0, fault=(10.0, 20.0)))
    start, stop = history.focus(agg)
    assert 8.0 <= start < 10.0 and 21.0 < stop <= 23.0    # the fault, the drain, a margin
    # a fault over most of the run: the whole run already shows it
    assert history.focus(history.aggregate(loaded_run(n=200, rate=2.0, fault=(5.0, 90.0)))) \
        is None


def test_a_server_started_again_is_marked():
    evs = [{"ts": T0 + 1, "host": "relay1", "service": "relay", "event": "started"},
           {"ts": T0 + 2, "host": "mx1", "service": "mx", "event": "started"},
           {"ts": T0 + 5, "host": "relay1", "service": "relay", "event": "started"},
           {"ts": T0 + 6, "host": "dns1", "service": "dns", "event": "updated"},
           {"ts": T0 + 7, "host": "mx1", "service": "mx", "event": "started"},
           {"ts": T0 + 7.5, "host": "lab", "event": "created", "name": "mx1", "dc": "dc1"}]
    assert history.marks(evs, T0) == [(5, "relay restarted"), (6, "DNS updated"),
                                      (7.5, "created mx1 in dc1")]


def test_a_connection_that_never_opened_is_an_attempt_too():
    """A black hole's failed connects leave only deferred events: each is an attempt;
    a deferral after an attempt (a session that failed) is not counted twice."""
    def e(ts, event, msgid):
        return {"ts": ts, "event": event, "msgid": msgid, "service": "relay"}
    relay = [e(1, "deferred", "a"), e(2, "deferred", "a"), e(3, "attempt", "a"),
             e(3.1, "deferred", "a"), e(4, "attempt", "a"), e(4.5, "delivered", "a"),
             e(5, "attempt", "b")]
    assert history.attempt_times(relay) == [1, 2, 3, 4, 5]
