"""In-memory stand-ins for the relay's queue and the network, for unit tests."""
import itertools

from twisted.internet import defer
from zope.interface import implementer

from servers.common import smtpclient
from servers.relay.interfaces import IQueueStore


class FakeEntry:
    def __init__(self, id, msgid, sender, recipients, data, next_hop, arrived):
        self.id = id
        self.msgid = msgid
        self.sender = sender
        self.recipients = list(recipients)
        self._data = data
        self.next_hop = next_hop
        self.arrived = arrived
        self.attempts = 0
        self.next_attempt = arrived
        self.last_error = ""
        self.first_failure = None
        self.body = ""
        self.read_error = None       # raised by data() when set

    def data(self):
        if self.read_error is not None:
            raise self.read_error
        return self._data

    open_data = data        # the real one streams from the file; bytes do here


@implementer(IQueueStore)
class FakeQueue:
    def __init__(self, clock, events):
        self.clock = clock
        self.events = events
        self.stored = {}
        self.enqueued = []
        self.saves = 0
        self.set_aside_ids = []
        self.ids = itertools.count(1)

    def enqueue(self, sender, recipients, data, next_hop):
        n = next(self.ids)
        msgid = "<m%d@test>" % n
        for line in data.split(b"\r\n"):
            if line.lower().startswith(b"message-id:"):
                msgid = line.split(b":", 1)[1].strip().decode()
                break
        entry = FakeEntry("q%d" % n, msgid, sender, recipients, data, next_hop, self.clock.seconds())
        self.stored[entry.id] = entry
        self.enqueued.append(entry)
        return entry

    def entries(self):
        return list(self.stored.values())

    def save(self, entry):
        self.saves += 1

    def reroute(self, entry, new_next_hop):
        old, entry.next_hop = entry.next_hop, new_next_hop
        self.events.emit("rerouted", entry.msgid, old=old, new=new_next_hop)
        return old

    def remove(self, entry):
        del self.stored[entry.id]

    def set_aside(self, entry, why):
        self.set_aside_ids.append(entry.id)
        del self.stored[entry.id]
        return True


class FakeSession:
    def __init__(self, net, server):
        self.net = net
        self.server = server
        self.broken = None

    def send(self, sender, recipients, data, body=""):
        if hasattr(data, "chunks"):     # streamed from a real queue file: read as a client would
            data = b"".join(data.chunks())
        self.net.bodies.append(body)
        behaviour = self.net.behaviour.get(self.server, 250)
        result = smtpclient.MessageResult(self.server)
        code = behaviour if isinstance(behaviour, int) else 250
        if code == 250:
            result.delivered.extend(recipients)
            self.net.delivered.append((self.server, sender, tuple(recipients), data,
                                       self.net.clock.seconds()))
        else:
            result.fail_all(recipients, smtpclient.classify(code),
                            smtpclient.Reply(code, "%d.0.0 said no" % (code // 100)))
        return defer.succeed(result)

    def quit(self):
        return defer.succeed(None)


class FakeNetwork:
    """``behaviour[server]``: "down" (refused at once), "hang" (connect times
    out after ``connect_timeout`` clock seconds), or a reply code to DATA."""

    def __init__(self, clock, connect_timeout=5.0):
        self.clock = clock
        self.connect_timeout = connect_timeout
        self.behaviour = {}
        self.connects = []
        self.delivered = []
        self.bodies = []         # the BODY= of every message sent

    def open_session(self, host, port):
        server = "%s:%d" % (host, port)
        self.connects.append((server, self.clock.seconds()))
        behaviour = self.behaviour.get(server, 250)
        if behaviour == "down":
            return defer.fail(smtpclient.SessionError("cannot connect to %s: connection refused"
                                                      % server))
        if behaviour == "hang":
            d = defer.Deferred()
            self.clock.callLater(self.connect_timeout, d.errback,
                                 smtpclient.SessionError("cannot connect to %s: connect timeout"
                                                         % server))
            return d
        return defer.succeed(FakeSession(self, server))

    def resolve(self, next_hop):
        host, _, port = next_hop.rpartition(":")
        return defer.succeed([(next_hop, host, int(port))])


class Recorder:
    def __init__(self):
        self.events = []

    def emit(self, event, msgid=None, **fields):
        record = dict(fields, event=event)
        if msgid is not None:
            record["msgid"] = msgid
        self.events.append(record)
        return record

    def named(self, name):
        return [e for e in self.events if e["event"] == name]
