"""A relay that re-routes in memory only: it reports `rerouted` and delivers to
the new server, but every queue file keeps the old next hop (claims 4, 12)."""
from tests.variants import run_relay


def patch():
    from servers.relay import queue
    stored = {}      # entry id -> the next hop its file was first written with
    real_save = queue.Queue.save

    def save(self, entry):
        hop = entry.next_hop
        entry.next_hop = stored.setdefault(entry.id, hop)
        try:
            return real_save(self, entry)
        finally:
            entry.next_hop = hop

    def reroute(self, entry, new_next_hop):
        old = entry.next_hop
        stored.setdefault(entry.id, old)
        entry.next_hop = new_next_hop
        if self.events is not None:
            self.events.emit("rerouted", msgid=entry.msgid, id=entry.id,
                             old=old, new=new_next_hop)
        return old
    queue.Queue.save = save
    queue.Queue.reroute = reroute


if __name__ == "__main__":
    run_relay(patch)
