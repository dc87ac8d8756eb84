"""Synthetic runs for checker and report tests: files on disk, events in lists."""
import os

from lab import checker, scenario

T0 = 1_700_000_000.0
TOPO = {"dns1": {"ip": "10.0.1.2", "dc": "dc1"}, "mx1": {"ip": "10.0.1.10", "dc": "dc1"},
        "relay1": {"ip": "10.0.1.20", "dc": "dc1"}, "client1": {"ip": "10.0.9.10", "dc": ""}}
MX1, RELAY = "10.0.1.10:25", "10.0.1.20:25"


def write_mail(root, rcpt, msgid, n=0):
    d = os.path.join(root, rcpt, "new")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "%s.%d.eml" % (msgid.strip("<>").replace("@", "_"), n))
    with open(path, "wb") as f:
        f.write(b"Received: from relay1\r\nMessage-ID: %s\r\nSubject: t\r\n\r\nbody\r\n"
                % msgid.encode())
    os.utime(path, (T0 + 9, T0 + 9))
    return path


def ev(ts, host, service, event, msgid=None, **kw):
    e = {"ts": T0 + ts, "host": host, "service": service, "event": event}
    if msgid:
        e["msgid"] = msgid
    e.update(kw)
    return e


def relay_failover_run(tmp_path, n_direct=3, n_relayed=3):
    """mx1 black-holed from t=1 to t=5; the first messages go to mx1, the rest via the relay."""
    s = scenario.load("relay-failover")
    root = str(tmp_path / "mx1-maildir")
    ledger, events = [], [ev(1.0, "mx1", "faults", "fault_start", fault="blackhole")]
    for i in range(n_direct):
        m = "<t-1-%d@maillab>" % i
        ledger.append({"ts": T0 + 0.1 * i, "msgid": m, "to": "user@example.org", "server": MX1,
                       "mx": "mx1.lab.", "code": 250})
        events.append(ev(0.1 * i, "mx1", "mx", "delivered", m, rcpt="user@example.org"))
        write_mail(root, "user@example.org", m)
    for i in range(n_direct, n_direct + n_relayed):
        m = "<t-1-%d@maillab>" % i
        ledger.append({"ts": T0 + 2 + 0.1 * i, "msgid": m, "to": "user@example.org",
                       "server": RELAY, "mx": "relay1.lab.", "code": 250})
        events.append(ev(2 + 0.1 * i, "relay1", "relay", "queued", m, next_hop="mx:example.org"))
        for k in range(3):
            events.append(ev(2.5 + 0.1 * i + k * 1.1, "relay1", "relay", "attempt", m, server=MX1))
        events.append(ev(5.6 + 0.1 * i, "relay1", "relay", "delivered", m, server=MX1))
        events.append(ev(5.6 + 0.1 * i, "mx1", "mx", "delivered", m, rcpt="user@example.org"))
        write_mail(root, "user@example.org", m)
    events.append(ev(5.0, "mx1", "faults", "fault_end", fault="blackhole"))
    return checker.Evidence(scenario=s, ledger=ledger, mails=checker.read_maildir(root, "mx1"),
                            queued=[], events=events, topology=dict(TOPO), started=T0,
                            finished=T0 + 10), root


def remote_run(tmp_path, wan_bytes=10_000):
    s = scenario.load("remote-failover")
    topo = dict(TOPO, mx2={"ip": "10.0.2.10", "dc": "dc2"})
    del topo["mx2"]   # created at run time: known from the created event only
    root = str(tmp_path / "mx2-maildir")
    ledger, events = [], [ev(0.0, "mx1", "faults", "fault_start", fault="destroy")]
    ids = ["<r-1-%d@maillab>" % i for i in range(4)]
    for i, m in enumerate(ids):
        ledger.append({"ts": T0 + 1 + 0.1 * i, "msgid": m, "to": "user@example.org",
                       "server": RELAY, "mx": "relay1.lab.", "code": 250})
        events.append(ev(1 + 0.1 * i, "relay1", "relay", "queued", m, next_hop="mx:example.org"))
        events.append(ev(1.5 + 0.1 * i, "relay1", "relay", "attempt", m, server=MX1))
        events.append(ev(2.6 + 0.1 * i, "relay1", "relay", "attempt", m, server=MX1))
    events.append(ev(3.5, "relay1", "relay", "provision_requested", action="create", dc="dc2"))
    events.append(ev(4.3, "lab", "provisioner", "created", name="mx2", ip="10.0.2.10",
                     dc="dc2", seconds=0.8))
    for i, m in enumerate(ids):
        events.append(ev(4.4, "relay1", "relay", "rerouted", m, old="mx:example.org",
                         new="10.0.2.10:25"))
        events.append(ev(4.6 + 0.05 * i, "relay1", "relay", "delivered", m, server="10.0.2.10:25"))
        events.append(ev(4.6 + 0.05 * i, "mx2", "mx", "delivered", m, rcpt="user@example.org"))
        write_mail(root, "user@example.org", m)
    snaps = [{"ts": T0 + 4.5, "entries": [{"msgid": ids[0], "next_hop": "10.0.2.10:25"}]}]
    return checker.Evidence(scenario=s, ledger=ledger, mails=checker.read_maildir(root, "mx2"),
                            queued=[], events=events, topology=topo, started=T0,
                            finished=T0 + 8, queue_snapshots=snaps, wan_bytes=wan_bytes), root


def loaded_run(n=2000, rate=20.0, fault=(10.0, 40.0), odd=3):
    """A synthetic history of ``n`` messages, no files: mx1 black-holed during
    ``fault`` (seconds); messages sent then go to the relay, which defers them
    every second and delivers them all when the fault ends. The first ``odd``
    of those had a failed send before the relay took them (a rarer path)."""
    s = scenario.load("relay-failover")
    start, stop = fault
    events = [ev(start, "mx1", "faults", "fault_start", fault="blackhole", id="bh-1",
                 summary="blackhole mx1: DROP tcp arriving (no RST, no ICMP)"),
              ev(stop, "mx1", "faults", "fault_end", fault="blackhole", id="bh-1",
                 summary="blackhole mx1: DROP tcp arriving (no RST, no ICMP)")]
    ledger, odd_left = [], odd
    for i in range(n):
        t, m = i / rate, "<load-1-%d@maillab>" % i
        if start <= t < stop:
            if odd_left:
                events.append(ev(t - 0.01, "client1", "sender", "send_failed", m))
                odd_left -= 1
            ledger.append({"ts": T0 + t, "msgid": m, "to": "user@example.org", "server": RELAY,
                           "mx": "relay1.lab.", "code": 250})
            events.append(ev(t, "relay1", "relay", "queued", m, next_hop="mx:example.org"))
            k = 1
            while t + k < stop:
                events.append(ev(t + k, "relay1", "relay", "attempt", m, server=MX1))
                events.append(ev(t + k + 0.5, "relay1", "relay", "deferred", m, server=MX1))
                k += 1
            done = stop + 0.5 + 0.001 * (i % 200)
            events.append(ev(done, "relay1", "relay", "attempt", m, server=MX1))
            events.append(ev(done, "relay1", "relay", "delivered", m, server=MX1))
            events.append(ev(done, "mx1", "mx", "delivered", m, rcpt="user@example.org"))
        else:
            ledger.append({"ts": T0 + t, "msgid": m, "to": "user@example.org", "server": MX1,
                           "mx": "mx1.lab.", "code": 250})
            events.append(ev(t + 0.01, "mx1", "mx", "delivered", m, rcpt="user@example.org"))
    return checker.Evidence(scenario=s, ledger=ledger, mails=[], queued=[], events=events,
                            topology=dict(TOPO), started=T0, finished=T0 + n / rate + 2)
