import email

from servers.relay.bounce import build_dsn


def test_dsn_is_a_well_formed_multipart_report():
    original = b"Message-ID: <o@x>\r\nSubject: hello\r\n\r\nsecret body\r\n"
    data = build_dsn("relay.lab", "alice@x.org", "<o@x>",
                     [("bob@lab", "5.1.1", "550 5.1.1 no such user")], original,
                     arrived=1000.0, dsn_msgid="<dsn-1@relay.lab>", now=2000.0)
    msg = email.message_from_bytes(data)
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    assert msg["Message-ID"] == "<dsn-1@relay.lab>" and msg["To"] == "<alice@x.org>"
    parts = msg.get_payload()
    assert [p.get_content_type() for p in parts] == [
        "text/plain", "message/delivery-status", "text/rfc822-headers"]
    status_blocks = parts[1].get_payload()
    assert status_blocks[0]["Reporting-MTA"] == "dns; relay.lab"
    assert status_blocks[1]["Final-Recipient"] == "rfc822; bob@lab"
    assert status_blocks[1]["Action"] == "failed"
    assert status_blocks[1]["Status"] == "5.1.1"
    headers = parts[2].get_payload()
    assert "Subject: hello" in headers and "secret body" not in headers
