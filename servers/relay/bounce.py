"""RFC 3464 delivery status notifications (bounces).

A bounce is sent with an empty envelope sender, so that it is never itself
bounced (RFC 5321 §6.1, §4.5.5).
"""
import email.utils
import time


def _headers_of(data):
    end = data.find(b"\r\n\r\n")
    if end < 0:
        end = data.find(b"\n\n")
    return data if end < 0 else data[:end + 1]


def build_dsn(reporting_mta, original_sender, original_msgid, failures, original_data,
              arrived, dsn_msgid, now=None):
    """The bytes of a multipart/report bounce to ``original_sender``.

    ``failures`` is a list of (recipient, status "5.x.y", diagnostic text).
    """
    now = time.time() if now is None else now
    boundary = "maillab-dsn-%s" % abs(hash((dsn_msgid, now)))
    human = ["This is the mail system at %s." % reporting_mta, "",
             "Your message %s could not be delivered to:" % original_msgid, ""]
    per_rcpt = []
    for rcpt, status, diagnostic in failures:
        human.append("  <%s>: %s" % (rcpt, diagnostic))
        per_rcpt.append("\r\n".join([
            "Final-Recipient: rfc822; %s" % rcpt,
            "Action: failed",
            "Status: %s" % status,
            "Diagnostic-Code: smtp; %s" % " ".join(diagnostic.split()),
            "Last-Attempt-Date: %s" % email.utils.formatdate(now),
        ]))
    status_part = "\r\n\r\n".join([
        "\r\n".join(["Reporting-MTA: dns; %s" % reporting_mta,
                     "Arrival-Date: %s" % email.utils.formatdate(arrived)])] + per_rcpt)
    head = "\r\n".join([
        "From: Mail Delivery System <MAILER-DAEMON@%s>" % reporting_mta,
        "To: <%s>" % original_sender,
        "Subject: Undelivered Mail Returned to Sender",
        "Date: %s" % email.utils.formatdate(now),
        "Message-ID: %s" % dsn_msgid,
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        'Content-Type: multipart/report; report-type=delivery-status; boundary="%s"' % boundary,
        "",
        "--%s" % boundary,
        "Content-Type: text/plain; charset=us-ascii",
        "",
        "\r\n".join(human),
        "",
        "--%s" % boundary,
        "Content-Type: message/delivery-status",
        "",
        status_part,
        "",
        "--%s" % boundary,
        "Content-Type: text/rfc822-headers",
        "",
        "",
    ]).encode()
    tail = ("\r\n--%s--\r\n" % boundary).encode()
    return head + _headers_of(original_data).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") + tail
