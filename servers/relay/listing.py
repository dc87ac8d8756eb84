"""``python -m servers.relay --list``: the queue as a table, for teaching."""
import time


def _when(ts, now):
    if ts is None:
        return "-"
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))
    delta = round(ts - now)
    if delta > 0:
        return "%s UTC (in %ds)" % (stamp, delta)
    if delta < 0:
        return "%s UTC (%ds ago)" % (stamp, -delta)
    return "%s UTC (now)" % stamp


def format_queue_listing(entries, now=None):
    """One block per entry: id, Message-ID, recipients, next hop, attempts,
    next attempt, last error. Ends with a count line."""
    now = time.time() if now is None else now
    out = []
    for e in entries:
        out.append("%s  %s" % (e.id, e.msgid or "(no Message-ID)"))
        out.append("    from:         <%s>" % e.sender)
        out.append("    to:           %s" % ", ".join("<%s>" % r for r in e.recipients))
        out.append("    next hop:     %s" % e.next_hop)
        out.append("    arrived:      %s" % _when(e.arrived, now))
        out.append("    attempts:     %d" % e.attempts)
        out.append("    next attempt: %s" % _when(e.next_attempt, now))
        if e.first_failure is not None:
            out.append("    failing since: %s" % _when(e.first_failure, now))
        if e.last_error:
            out.append("    last error:   %s" % e.last_error)
    recipients = sum(len(e.recipients) for e in entries)
    out.append("%d message%s, %d recipient%s in the queue" % (
        len(entries), "" if len(entries) == 1 else "s",
        recipients, "" if recipients == 1 else "s"))
    return "\n".join(out)
