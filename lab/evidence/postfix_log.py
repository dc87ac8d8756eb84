"""A Postfix log read into the events maillab's relay writes about itself.

The log is Postfix's own words (``maillog_file``), each line stamped with the
time it was written (lab.testbed.mta_log): ``{"ts": ..., "line": ...}``.
Read here, per queue ID:

- ``cleanup``'s ``message-id=<...>``: the message was accepted: ``queued``;
- a delivery line ``to=<R>, relay=..., status=deferred (why)``: ``deferred``
  (``cached``: Postfix did not try, the destination was still marked dead:
  ``delivery temporarily suspended``, as maillab's relay's ``(cached)``);
- ``status=sent``: ``delivered`` (``server`` the host and address it went to);
  ``status=bounced``/``expired``: ``bounced``.

These events stand where maillab's relay log does (claims 5 and 13: which
message a failure was for), and are judged the same way: against the wire.
On a sending host (``service`` "sender") a message handed over is ``sent``,
as maillab's sender says it, with the address Postfix connected to
(``server``) and the MX name (``mx``); ``ledger_rows`` are those lines as the
sender's ledger.
"""
import json
import re

STAMPED_SUFFIX = ".stamped.jsonl"   # beside the log FIFO: its lines, stamped

DELIVERY = re.compile(r"\b([0-9A-F]{6,}|[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{10,}): "
                      r"to=<([^>]*)>, (?:orig_to=<[^>]*>, )?relay=([^,]*), .*?"
                      r"status=(\w+) \((.*)\)$")
PEER = re.compile(r"^([^\[]+)\[([^\]]+)\]:(\d+)$")    # mx1.lab.example.org[10.0.1.10]:25
MESSAGE_ID = re.compile(r"\b([0-9A-Za-z]{6,}): message-id=(<[^>]*>)")
SUSPENDED = "delivery temporarily suspended"
OUTCOMES = {"deferred": "deferred", "sent": "delivered", "bounced": "bounced",
            "expired": "bounced"}


def events_from_lines(stamped, service=None):
    """maillab-shaped events from ``[{"ts", "line"}]`` in the order written."""
    msgids, out = {}, []
    for rec in stamped:
        line, ts = rec.get("line", ""), rec.get("ts", 0.0)
        m = MESSAGE_ID.search(line)
        if m and "/cleanup[" in line:
            msgids[m.group(1)] = m.group(2)
            out.append({"ts": ts, "event": "queued", "msgid": m.group(2),
                        "id": m.group(1), "mta": "postfix"})
            continue
        m = DELIVERY.search(line)
        if not m or m.group(4) not in OUTCOMES:
            continue
        qid, rcpt, relay, status, why = m.groups()
        event = {"ts": ts, "event": OUTCOMES[status], "msgid": msgids.get(qid, ""), "id": qid,
                 "rcpt": rcpt, "mta": "postfix"}
        if status == "deferred":
            event.update(error=why, cached=why.startswith(SUSPENDED))
        elif status == "sent" and service == "sender":
            peer = PEER.match(relay)
            event.update(event="sent", to=rcpt, reply=why,
                         server="%s:%s" % (peer.group(2), peer.group(3)) if peer else relay,
                         mx=peer.group(1) + "." if peer else "")
        elif status == "sent":
            event.update(server=relay, reply=why)
        else:
            event.update(error=why)
        out.append(event)
    return out


def read_stamped(path):
    """The ``{"ts", "line"}`` records of one stamped log file, in the order written
    (a line cut short is skipped; no file: none)."""
    stamped = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    stamped.append(json.loads(line))
                except ValueError:
                    continue
    except FileNotFoundError:
        return []
    return stamped


def read_events(path, service=None):
    """The events of one stamped Postfix log file."""
    return events_from_lines(read_stamped(path), service)


def ledger_rows(path):
    """A sending Postfix's ledger: a row per message it handed over (250)."""
    return [{"ts": e["ts"], "msgid": e["msgid"], "to": e["to"], "server": e["server"],
             "mx": e["mx"], "code": 250} for e in read_events(path, "sender")
            if e["event"] == "sent"]
