"""The shared ESMTP receive side, dialogue by dialogue (no sockets)."""
import pytest
from twisted.python.failure import Failure

from servers.smtpd import replies
from servers.smtpd.protocol import COMMAND_LINE_MAX, IDLE_TIMEOUT, MAX_ERRORS, TEXT_LINE_MAX
from servers.smtpd.replies import Refused
from tests.unit.smtp_dialogue import HeldStorage, Session, envelope, message


def test_greeting_and_ehlo_advertise_size_pipelining_8bitmime():
    s = Session(max_size=12345)
    assert s.greeting == ["220 mx1.lab ESMTP maillab"]
    lines = s.send("EHLO client\n")
    assert lines[0].startswith("250-mx1.lab Hello")
    assert "250-SIZE 12345" in lines
    assert "250-PIPELINING" in lines
    assert "250-8BITMIME" in lines
    assert lines[-1].startswith("250 ")


def test_accepted_message_is_stored_whole_with_received_header():
    s = Session()
    assert s.codes(envelope()) == [250, 250, 250]
    reply = s.send(message(body="line 1\n..starts with a dot\n"))
    assert reply[0].startswith("354")
    assert reply[1].startswith("250 2.0.0")
    [stored] = s.storage.messages
    assert stored.sender == "a@example.net"
    assert stored.recipients == ["u@example.org"]
    assert stored.msgid == "<m1@example.net>"
    lines = stored.data.split(b"\n")
    assert lines[0].startswith(b"Received: from client.example.net ([192.168.1.1])")
    assert b"by mx1.lab" in stored.data and b"for <u@example.org>" in stored.data
    assert stored.data.endswith(b"\n\nline 1\n.starts with a dot\n")
    assert b"\r" not in stored.data
    assert s.codes("QUIT\n") == [221] and s.closed


def test_message_without_message_id_gets_one_and_it_is_used():
    s = Session()
    s.send(envelope())
    s.send(message(msgid=None))
    [stored] = s.storage.messages
    assert stored.msgid.startswith("<") and stored.msgid.endswith("@mx1.lab>")
    assert ("Message-ID: %s" % stored.msgid).encode() in stored.data


def test_message_without_any_header_gets_a_header_section():
    s = Session()
    s.send(envelope())
    s.send("DATA\njust a body line\n.\n")
    [stored] = s.storage.messages
    head, body = stored.data.split(b"\n\n", 1)
    assert b"Message-ID:" in head and body == b"just a body line\n"


def test_eight_bit_data_is_kept_as_is():
    s = Session()
    s.send(envelope()[:-1] + "\n")
    s.codes("MAIL FROM:<b@example.net> BODY=8BITMIME\n")
    s.send(b"RCPT TO:<u@example.org>\r\nDATA\r\nSubject: caf\xc3\xa9\r\n\r\n\xff\xfe\r\n.\r\n")
    assert s.storage.messages[-1].data.endswith(b"\xff\xfe\n")


def test_250_after_data_only_when_the_storage_deferred_fires():
    storage = HeldStorage(hold=True)
    s = Session(storage=storage)
    s.send(envelope())
    # The client pipelines QUIT right after the final dot.
    out = s.send(message() + "QUIT\n")
    assert [l[:3] for l in out] == ["354"]
    assert not s.closed
    assert s.transport.producerState == "paused"
    storage.pending[0].callback(None)
    out = s.take()
    assert [l[:3] for l in out] == ["250", "221"]
    assert s.closed


def test_storage_failure_is_a_temporary_error_and_refusal_is_passed_on():
    storage = HeldStorage(hold=True)
    s = Session(storage=storage)
    s.send(envelope())
    s.send(message())
    storage.pending[0].errback(Failure(OSError("disk full")))
    assert s.take() == ["451 4.3.0 Local error in processing; try again later"]
    s.send(envelope()[len("EHLO client.example.net\n"):])
    s.send(message())
    storage.pending[1].errback(Failure(Refused(replies.TOO_BIG)))
    assert s.take()[0].startswith("552 5.3.4")


def test_refused_domain_is_550_571_and_nothing_is_stored():
    s = Session()
    out = s.send(envelope(rcpts=["u@other.org"]))
    assert out[-1] == "550 5.7.1 <u@other.org>: Relay access denied"
    assert s.codes("DATA\n") == [503]
    assert s.storage.messages == []


OPEN_RELAY_ATTEMPTS = [
    "<u@other.org>",
    "<u@example.org.other.org>",
    "<u@sub.example.org>",
    "<u%other.org@example.org>",
    "<other.org!u@example.org>",
    "<\"u@other.org\"@example.org>",
    "<\"u%other.org\"@example.org>",
    "<u@other.org@example.org>",
    "<@example.org:u@other.org>",
    "<@example.org,@relay.example.org:u@other.org>",
    "<u@[127.0.0.1]>",
    "<u>",
]


@pytest.mark.parametrize("rcpt", OPEN_RELAY_ATTEMPTS)
@pytest.mark.parametrize("sender", ["a@example.net", "u@example.org", "", "@example.org:a@x.net"])
def test_never_an_open_relay(rcpt, sender):
    s = Session()
    s.send("EHLO c\n")
    assert s.codes("MAIL FROM:<%s>\n" % sender) == [250]
    [code] = s.codes("RCPT TO:%s\n" % rcpt)
    assert 500 <= code < 600
    assert s.codes("DATA\n") == [503]
    assert s.storage.messages == []


def test_relay_hacks_inside_our_domain_get_550_571():
    s = Session()
    s.send("EHLO c\nMAIL FROM:<a@x.net>\n")
    for rcpt in ["<u%other.org@example.org>", "<\"u@other.org\"@example.org>",
                 "<u@other.org@example.org>", "<@example.org:u@other.org>"]:
        assert s.send("RCPT TO:%s\n" % rcpt)[0].startswith("550 5.7.1"), rcpt


def test_source_route_to_our_domain_is_ignored_and_final_address_used():
    s = Session()
    s.send("EHLO c\nMAIL FROM:<a@x.net>\n")
    assert s.codes("RCPT TO:<@relay.other.org:U@Example.ORG>\n") == [250]
    s.send(message())
    assert s.storage.messages[0].recipients == ["u@example.org"]


def test_recipient_list_refuses_unlisted_users():
    s = Session(recipients=["alice@example.org"])
    s.send("EHLO c\nMAIL FROM:<a@x.net>\n")
    assert s.codes("RCPT TO:<alice@example.org>\n") == [250]
    assert s.send("RCPT TO:<bob@example.org>\n")[0].startswith("550 5.7.1")


def test_several_domains_and_duplicate_recipients():
    s = Session(domains=["example.org", "example.com."])
    s.send(envelope(rcpts=["a@example.org", "b@EXAMPLE.COM", "a@example.org"]))
    s.send(message())
    assert s.storage.messages[0].recipients == ["a@example.org", "b@example.com"]
    assert b"for <" not in s.storage.messages[0].data   # several: no "for" clause


def test_declared_size_over_limit_is_552():
    s = Session(max_size=1000)
    s.send("EHLO c\n")
    assert s.send("MAIL FROM:<a@x.net> SIZE=1001\n") == ["552 5.3.4 Message size exceeds fixed limit"]
    assert s.codes("MAIL FROM:<a@x.net> SIZE=1000\n") == [250]


def test_actual_size_over_limit_is_552_after_the_data_and_session_goes_on():
    s = Session(max_size=1000)
    s.send(envelope())
    out = s.send("DATA\n" + ("y" * 100 + "\n") * 20 + ".\n")
    assert out[-1].startswith("552 5.3.4")
    assert s.storage.messages == []
    s.send(envelope()[len("EHLO client.example.net\n"):])
    assert s.send(message())[-1].startswith("250 ")


@pytest.mark.parametrize("command,expected", [
    ("FOO bar", 500), ("", 500), ("MAIL", 501), ("MAIL FROM:<a@x.net", 501),
    ("RCPT TO:<u@example.org>", 503), ("DATA", 503), ("MAIL FROM:<a@x.net> FOO=1", 555),
    ("MAIL FROM:<a@x.net> SIZE=big", 501), ("AUTH PLAIN AGFAAGI=", 500),
    ("STARTTLS", 500), ("BDAT 10 LAST", 500), ("EXPN list", 502),
])
def test_bad_commands_get_5xx_and_the_session_goes_on(command, expected):
    s = Session()
    s.send("EHLO c\n")
    assert s.codes(command + "\n") == [expected]
    assert s.codes("NOOP\n") == [250]
    s.send("RSET\n")
    s.send(envelope())
    assert s.codes(message()) == [354, 250]


def test_mail_before_helo_is_503():
    s = Session()
    assert s.send("MAIL FROM:<a@x.net>\n")[0].startswith("503 5.5.1")


def test_non_ascii_garbage_command_is_500_not_a_crash():
    s = Session()
    assert s.codes(b"\xff\xfe\x00garbage\r\n") == [500]
    assert s.codes(b"EHLO \xc3\xa9\r\n") == [250]
    assert s.codes(b"MAIL FROM:<\xc3\xa9@x.net>\r\n")[0] >= 500


def test_command_line_over_rfc_limit_is_500_and_session_goes_on():
    s = Session()
    s.send("EHLO c\n")
    assert s.send("NOOP " + "x" * (COMMAND_LINE_MAX - 4) + "\n") == ["500 5.5.2 Line too long"]
    # A huge line arriving in pieces: one error for it, then the next command.
    s.protocol.dataReceived(b"NOOP " + b"z" * 5000)
    s.protocol.dataReceived(b"z" * 5000)
    assert s.take() == []
    assert s.codes(b"zzz\r\nNOOP\r\n") == [500, 250]
    # The CRLF ending a discarded line split across two packets.
    s.protocol.dataReceived(b"y" * 2000 + b"\r")
    assert s.codes(b"\nNOOP\r\n") == [500, 250]


def test_data_line_over_rfc_limit_is_refused_and_nothing_is_stored():
    s = Session()
    s.send(envelope())
    out = s.send("DATA\nSubject: x\n\n" + "a" * (TEXT_LINE_MAX + 1) + "\n.\n")
    assert out[-1].startswith("500 5.5.2")
    assert s.storage.messages == []
    s.send("MAIL FROM:<a@x.net>\nRCPT TO:<u@example.org>\n")
    assert s.codes(message(body="b" * TEXT_LINE_MAX + "\n")) == [354, 250]


def test_too_many_errors_close_the_session_cleanly():
    s = Session()
    out = s.send("BAD\n" * (MAX_ERRORS + 5))
    assert out[-1].startswith("421 4.7.0")
    assert len(out) == MAX_ERRORS + 1
    assert s.closed


def test_idle_session_is_closed_with_421_after_the_timeout():
    s = Session()
    s.send("EHLO c\n")
    s.clock.advance(IDLE_TIMEOUT - 1)
    assert not s.closed
    s.clock.advance(2)
    assert s.take()[0].startswith("421 4.4.2") and s.closed


def test_pipelined_transaction_replies_in_order():
    s = Session()
    out = s.send("EHLO c\nMAIL FROM:<a@x.net>\nRCPT TO:<u@example.org>\n"
                 "RCPT TO:<v@other.org>\nRCPT TO:<v@example.org>\n" + message() + "QUIT\n")
    finals = [int(l[:3]) for l in out if l[3] == " "]
    assert finals == [250, 250, 250, 550, 250, 354, 250, 221]
    assert s.storage.messages[0].recipients == ["u@example.org", "v@example.org"]


@pytest.mark.parametrize("smuggled", [b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n"])
def test_only_crlf_dot_crlf_ends_the_data_no_smtp_smuggling(smuggled):
    s = Session()
    s.send(envelope())
    s.send("DATA\n")
    out = s.send(b"Subject: x\r\n\r\nbody" + smuggled +
                 b"MAIL FROM:<evil@x.net>\r\nRCPT TO:<v@example.org>\r\nDATA\r\n")
    assert out == []                       # all of it is still message data
    assert s.codes(b".\r\n") == [250]
    [stored] = s.storage.messages
    assert stored.recipients == ["u@example.org"]
    assert b"MAIL FROM:<evil@x.net>" in stored.data


DOTTED_998 = b"." + b"d" * (TEXT_LINE_MAX - 1)     # a legal line of 998 octets starting with a dot


def test_a_dot_stuffed_998_octet_line_is_accepted_the_limit_counts_after_unstuffing():
    s = Session()
    s.send(envelope())
    assert s.codes(b"DATA\r\nSubject: x\r\n\r\n." + DOTTED_998 + b"\r\n.\r\n") == [354, 250]
    assert s.storage.messages[-1].data.endswith(b"\n\n" + DOTTED_998 + b"\n")
    s.send("MAIL FROM:<a@x.net>\nRCPT TO:<u@example.org>\n")
    # Its CRLF split across two packets.
    s.send(b"DATA\r\nSubject: x\r\n\r\n." + DOTTED_998 + b"\r")
    assert s.codes(b"\n.\r\n") == [250]
    s.send("MAIL FROM:<a@x.net>\nRCPT TO:<u@example.org>\n")
    out = s.send(b"DATA\r\nSubject: x\r\n\r\n." + DOTTED_998 + b"d\r\n.\r\n")     # 999 octets
    assert out[-1].startswith("500 5.5.2") and len(s.storage.messages) == 2


def test_mail_with_body_8bitmime_is_remembered_with_the_message():
    s = Session()
    s.send("EHLO c\nMAIL FROM:<a@x.net> BODY=8BITMIME\nRCPT TO:<u@example.org>\n")
    s.send(b"DATA\r\nSubject: caf\xc3\xa9\r\n\r\nx\r\n.\r\n")
    s.send("MAIL FROM:<a@x.net>\nRCPT TO:<u@example.org>\n")
    s.send(message())
    assert [m.body for m in s.storage.messages] == ["8BITMIME", ""]


def test_the_projects_own_client_delivers_a_dot_stuffed_998_octet_line():
    from twisted.internet.testing import StringTransport
    from servers.common.smtpclient import SMTPClient

    s = Session()
    client = SMTPClient("relay.lab", s.clock, server="mx1")
    client_transport = StringTransport()
    client.makeConnection(client_transport)
    client.dataReceived(("\r\n".join(s.greeting) + "\r\n").encode())

    def pump():
        while client_transport.value() or s.transport.value():
            to_server, to_client = client_transport.value(), s.transport.value()
            client_transport.clear()
            s.transport.clear()
            s.protocol.dataReceived(to_server)
            client.dataReceived(to_client)
    pump()
    results = []
    data = b"Subject: x\n\n" + DOTTED_998 + b"\n"
    client.send("a@example.net", ["u@example.org"], data).addCallback(results.append)
    pump()
    assert results[0].delivered == ["u@example.org"], results[0].error
    assert s.storage.messages[-1].data.endswith(b"\n\n" + DOTTED_998 + b"\n")


def test_rcpt_to_postmaster_without_a_domain_is_accepted():
    s = Session(recipients=["u@example.org"])
    s.send("EHLO c\nMAIL FROM:<a@example.net>\n")
    assert s.send("RCPT TO:<Postmaster>\n") == ["250 2.1.5 Recipient ok"]
    assert s.send("RCPT TO:<webmaster>\n")[0].startswith("550 5.7.1")   # only postmaster
    s.send(message())
    [stored] = s.storage.messages
    assert stored.recipients == ["postmaster@example.org"]


def test_refused_recipients_count_toward_the_error_limit():
    s = Session()
    s.send("EHLO c\nMAIL FROM:<a@example.net>\n")
    probes = "".join("RCPT TO:<u%d@other.org>\n" % i for i in range(300))
    out = s.send(probes)
    assert [line[:3] for line in out] == ["550"] * MAX_ERRORS + ["421"]
    assert s.closed


def test_a_bare_cr_in_the_data_becomes_a_line_break_not_passed_on():
    s = Session()
    s.send(envelope())
    s.send(b"DATA\r\nSubject: x\r\n\r\nbefore\rafter\r\nbare\nlf\r\n.\r\n")
    [stored] = s.storage.messages
    assert b"\r" not in stored.data
    assert stored.data.endswith(b"\n\nbefore\nafter\nbare\nlf\n")
