from twisted.internet import task
from twisted.internet.testing import StringTransport
from twisted.python import failure
from twisted.internet import error

from servers.common import smtpclient as sc


def session(ehlo_lines=(b"250-mx1.lab", b"250-SIZE 1000000", b"250 8BITMIME")):
    clock = task.Clock()
    proto = sc.SMTPClient("relay.lab", clock, command_timeout=10, data_timeout=20,
                          server="10.0.0.1:25")
    transport = StringTransport()
    proto.makeConnection(transport)
    ready = []
    proto.ready.addBoth(ready.append)
    proto.dataReceived(b"220 mx1.lab ESMTP\r\n")
    assert transport.value() == b"EHLO relay.lab\r\n"
    transport.clear()
    proto.dataReceived(b"\r\n".join(ehlo_lines) + b"\r\n")
    return proto, transport, clock, ready


def lines(transport):
    out = transport.value().split(b"\r\n")
    transport.clear()
    return out


def test_encode_data_dot_stuffs_and_crlf():
    assert sc.encode_data(b"a\n.b\n..c") == b"a\r\n..b\r\n...c\r\n.\r\n"
    assert sc.encode_data(b".x\r\n") == b"..x\r\n.\r\n"


def test_delivered_dialogue():
    proto, t, clock, ready = session()
    assert ready == [proto] and "SIZE" in proto.extensions
    results = []
    proto.send("a@x.org", ["b@lab", "c@lab"], b"Subject: hi\n\nbody\n").addCallback(results.append)
    assert lines(t) == [b"MAIL FROM:<a@x.org> SIZE=21", b""]
    proto.dataReceived(b"250 ok\r\n")
    assert lines(t) == [b"RCPT TO:<b@lab>", b""]
    proto.dataReceived(b"250 ok\r\n")
    assert lines(t) == [b"RCPT TO:<c@lab>", b""]
    proto.dataReceived(b"250 ok\r\n")
    assert lines(t) == [b"DATA", b""]
    proto.dataReceived(b"354 go\r\n")
    assert t.value() == b"Subject: hi\r\n\r\nbody\r\n.\r\n"
    t.clear()
    proto.dataReceived(b"250 2.0.0 queued as X\r\n")
    r = results[0]
    assert r.status == sc.DELIVERED and r.delivered == ["b@lab", "c@lab"]
    assert r.reply == (250, "2.0.0 queued as X")


def test_rcpt_refusals_classified_and_partial_delivery():
    proto, t, clock, ready = session()
    results = []
    proto.send("a@x.org", ["b@lab", "c@lab", "d@lab"], b"x\n").addCallback(results.append)
    proto.dataReceived(b"250 ok\r\n")
    proto.dataReceived(b"550 5.1.1 no such user\r\n")
    proto.dataReceived(b"451 4.3.0 try later\r\n")
    proto.dataReceived(b"250 ok\r\n")
    lines(t)
    proto.dataReceived(b"354 go\r\n")
    proto.dataReceived(b"250 ok\r\n")
    r = results[0]
    assert r.delivered == ["d@lab"]
    assert r.permanent == {"b@lab": (550, "5.1.1 no such user")}
    assert r.temporary == {"c@lab": (451, "4.3.0 try later")}
    assert r.status == sc.TEMPORARY


def test_5xx_after_data_is_permanent_4xx_temporary():
    for code, kind in ((b"554", sc.PERMANENT), (b"452", sc.TEMPORARY)):
        proto, t, clock, ready = session()
        results = []
        proto.send("a@x.org", ["b@lab"], b"x\n").addCallback(results.append)
        for reply in (b"250 ok", b"250 ok", b"354 go", code + b" nope"):
            proto.dataReceived(reply + b"\r\n")
        assert results[0].status == kind
        assert "nope" in results[0].error


def test_mail_refused_resets_and_session_goes_on():
    proto, t, clock, ready = session()
    results = []
    proto.send("a@x.org", ["b@lab"], b"x\n").addCallback(results.append)
    proto.dataReceived(b"550 5.7.1 go away\r\n")
    assert lines(t)[-2] == b"RSET"
    proto.dataReceived(b"250 ok\r\n")
    assert results[0].permanent == {"b@lab": (550, "5.7.1 go away")}
    assert proto.broken is None


def test_pipelining_sends_envelope_in_one_write():
    proto, t, clock, ready = session((b"250-mx1.lab", b"250 PIPELINING"))
    results = []
    proto.send("a@x.org", ["b@lab", "c@lab"], b"x\n").addCallback(results.append)
    assert lines(t) == [b"MAIL FROM:<a@x.org>", b"RCPT TO:<b@lab>", b"RCPT TO:<c@lab>", b"DATA", b""]
    proto.dataReceived(b"250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n")
    assert t.value() == b"x\r\n.\r\n"
    proto.dataReceived(b"250 ok\r\n")
    assert results[0].status == sc.DELIVERED


def test_command_timeout_makes_everything_temporary():
    proto, t, clock, ready = session()
    results = []
    proto.send("a@x.org", ["b@lab"], b"x\n").addCallback(results.append)
    clock.advance(9.9)
    assert not results
    clock.advance(0.2)
    assert results[0].status == sc.TEMPORARY
    assert "timeout" in results[0].temporary["b@lab"].text
    assert results[0].temporary["b@lab"].code is None
    assert proto.broken


def test_data_timeout_is_longer():
    proto, t, clock, ready = session()
    results = []
    proto.send("a@x.org", ["b@lab"], b"x\n").addCallback(results.append)
    for reply in (b"250 ok", b"250 ok", b"354 go"):
        proto.dataReceived(reply + b"\r\n")
    clock.advance(15)
    assert not results
    clock.advance(6)
    assert results[0].status == sc.TEMPORARY


def test_connection_reset_midway_is_temporary():
    proto, t, clock, ready = session()
    results = []
    proto.send("a@x.org", ["b@lab"], b"x\n").addCallback(results.append)
    proto.connectionLost(failure.Failure(error.ConnectionLost("reset")))
    assert results[0].status == sc.TEMPORARY
    assert not clock.getDelayedCalls()


def test_bad_greeting_fails_ready():
    clock = task.Clock()
    proto = sc.SMTPClient("relay.lab", clock, server="h:25")
    t = StringTransport()
    proto.makeConnection(t)
    ready = []
    proto.ready.addErrback(lambda f: ready.append(f.value))
    proto.dataReceived(b"554 no service\r\n")
    assert isinstance(ready[0], sc.SessionError) and "554" in str(ready[0])


def test_helo_fallback():
    clock = task.Clock()
    proto = sc.SMTPClient("relay.lab", clock, server="h:25")
    t = StringTransport()
    proto.makeConnection(t)
    proto.dataReceived(b"220 hi\r\n")
    proto.dataReceived(b"502 what\r\n")
    assert t.value().endswith(b"HELO relay.lab\r\n")
    proto.dataReceived(b"250 hi\r\n")
    assert proto.ready.called


def test_garbled_reply_breaks_session():
    proto, t, clock, ready = session()
    results = []
    proto.send("a@x.org", ["b@lab"], b"x\n").addCallback(results.append)
    proto.dataReceived(b"hello there\r\n")
    assert results[0].status == sc.TEMPORARY and "garbled" in results[0].error


def test_size_is_the_message_in_crlf_form_without_dot_stuffing():
    proto, t, clock, ready = session()
    proto.send("a@x.org", ["b@lab"], b".a\n..b\nc\n")
    assert lines(t)[0] == b"MAIL FROM:<a@x.org> SIZE=%d" % len(b".a\r\n..b\r\nc\r\n")


def test_body_8bitmime_is_declared_when_the_message_came_with_it():
    proto, t, clock, ready = session()
    proto.send("a@x.org", ["b@lab"], b"caf\xc3\xa9\n", body="8BITMIME")
    assert lines(t)[0] == b"MAIL FROM:<a@x.org> SIZE=7 BODY=8BITMIME"


def test_an_8bit_message_is_bounced_when_the_next_hop_lacks_8bitmime():
    proto, t, clock, ready = session(ehlo_lines=(b"250-mx1.lab", b"250 SIZE 1000000"))
    results = []
    proto.send("a@x.org", ["b@lab"], b"caf\xc3\xa9\n", body="8BITMIME").addCallback(results.append)
    assert t.value() == b""         # not even MAIL: nothing to say to this server
    [r] = results
    assert r.status == sc.PERMANENT and r.permanent["b@lab"].text.startswith("5.6.3")
    # A message declared 8BITMIME that holds only 7-bit text needs nothing.
    proto.send("a@x.org", ["b@lab"], b"plain\n", body="8BITMIME")
    assert lines(t)[0] == b"MAIL FROM:<a@x.org> SIZE=7"


def writes(transport):
    """The writes the client made since the last call (StringTransport keeps
    one buffer: the test reads it after each step)."""
    out = transport.value()
    transport.clear()
    return out


def test_send_many_sends_each_message_with_the_next_envelope_in_one_write():
    proto, t, clock, ready = session((b"250-mx1.lab", b"250 PIPELINING"))
    results = []
    proto.send_many([("a@x.org", ["b@lab"], b"one\n", ""),
                     ("a@x.org", ["c@lab"], b"two\n", ""),
                     ("a@x.org", ["d@lab"], b"three\n", "")]).addCallback(results.append)
    assert writes(t) == b"MAIL FROM:<a@x.org>\r\nRCPT TO:<b@lab>\r\nDATA\r\n"
    proto.dataReceived(b"250 ok\r\n250 ok\r\n354 go\r\n")
    # the first message's data and the second's envelope: one write, one round trip
    assert writes(t) == b"one\r\n.\r\nMAIL FROM:<a@x.org>\r\nRCPT TO:<c@lab>\r\nDATA\r\n"
    proto.dataReceived(b"250 queued 1\r\n250 ok\r\n250 ok\r\n354 go\r\n")
    assert writes(t) == b"two\r\n.\r\nMAIL FROM:<a@x.org>\r\nRCPT TO:<d@lab>\r\nDATA\r\n"
    proto.dataReceived(b"451 4.3.0 later\r\n250 ok\r\n250 ok\r\n354 go\r\n")
    assert writes(t) == b"three\r\n.\r\n"
    proto.dataReceived(b"250 queued 3\r\n")
    [(first, second, third)] = results
    assert first.delivered == ["b@lab"] and first.reply == (250, "queued 1")
    assert second.temporary == {"c@lab": (451, "4.3.0 later")} and not second.delivered
    assert third.delivered == ["d@lab"]
    assert proto.broken is None


def test_send_many_a_refused_envelope_is_closed_before_the_next_goes():
    proto, t, clock, ready = session((b"250-mx1.lab", b"250 PIPELINING"))
    results = []
    proto.send_many([("a@x.org", ["nobody@lab"], b"one\n", ""),
                     ("a@x.org", ["c@lab"], b"two\n", "")]).addCallback(results.append)
    writes(t)
    proto.dataReceived(b"250 ok\r\n550 5.1.1 no such user\r\n354 go\r\n")
    assert writes(t) == b".\r\n"              # 354 though no recipient: an empty message
    proto.dataReceived(b"554 5.5.1 no valid recipients\r\n")
    assert writes(t) == b"RSET\r\n"
    proto.dataReceived(b"250 ok\r\n")
    assert writes(t) == b"MAIL FROM:<a@x.org>\r\nRCPT TO:<c@lab>\r\nDATA\r\n"
    proto.dataReceived(b"250 ok\r\n250 ok\r\n354 go\r\n")
    assert writes(t) == b"two\r\n.\r\n"
    proto.dataReceived(b"250 queued\r\n")
    [(first, second)] = results
    assert first.permanent == {"nobody@lab": (550, "5.1.1 no such user")}
    assert second.delivered == ["c@lab"]


def test_send_many_a_lost_connection_makes_the_rest_temporary():
    proto, t, clock, ready = session((b"250-mx1.lab", b"250 PIPELINING"))
    results = []
    proto.send_many([("a@x.org", ["b@lab"], b"one\n", ""),
                     ("a@x.org", ["c@lab"], b"two\n", "")]).addCallback(results.append)
    proto.dataReceived(b"250 ok\r\n250 ok\r\n354 go\r\n")
    proto.connectionLost(failure.Failure(error.ConnectionLost("reset")))
    [(first, second)] = results
    assert set(first.temporary) == {"b@lab"} and set(second.temporary) == {"c@lab"}
    assert not first.delivered and not second.delivered


def test_send_many_without_pipelining_is_one_message_after_another():
    proto, t, clock, ready = session()
    results = []
    proto.send_many([("a@x.org", ["b@lab"], b"one\n", ""),
                     ("a@x.org", ["c@lab"], b"two\n", "")]).addCallback(results.append)
    for expected in (b"MAIL FROM:<a@x.org> SIZE=5\r\n", b"RCPT TO:<b@lab>\r\n", b"DATA\r\n"):
        assert writes(t) == expected
        proto.dataReceived(b"354 go\r\n" if expected == b"DATA\r\n" else b"250 ok\r\n")
    assert writes(t) == b"one\r\n.\r\n"
    proto.dataReceived(b"250 queued\r\n")
    assert writes(t) == b"MAIL FROM:<a@x.org> SIZE=5\r\n"
