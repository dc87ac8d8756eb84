"""Every SMTP reply the receive side sends, by name (RFC 5321 codes,
RFC 3463 enhanced status codes)."""
from typing import NamedTuple


class Reply(NamedTuple):
    code: int
    text: str

    def with_text(self, *args):
        """This reply with its text's %-placeholders filled in."""
        return Reply(self.code, self.text % args)

    @property
    def is_permanent(self):
        return 500 <= self.code < 600


GREETING = Reply(220, "%s ESMTP maillab")
HELO_OK = Reply(250, "%s Hello %s")
OK = Reply(250, "2.0.0 Ok")
SENDER_OK = Reply(250, "2.1.0 Sender ok")
RECIPIENT_OK = Reply(250, "2.1.5 Recipient ok")
STORED = Reply(250, "2.0.0 Ok: stored as %s")
RESET_OK = Reply(250, "2.0.0 Reset state")
CANNOT_VRFY = Reply(252, "2.5.0 Cannot VRFY user; try RCPT")
START_DATA = Reply(354, "End data with <CR><LF>.<CR><LF>")
BYE = Reply(221, "2.0.0 Bye")

IDLE_TIMEOUT = Reply(421, "4.4.2 %s Idle too long, closing connection")
TOO_MANY_ERRORS = Reply(421, "4.7.0 %s Too many errors, closing connection")
SESSION_TOO_LONG = Reply(421, "4.4.2 %s Session too long, closing connection")
BUSY_CLOSING_IDLE = Reply(421, "4.7.0 %s Server busy, closing idle connection")
TOO_MANY_CONNECTIONS = Reply(421, "4.7.0 %s Too many connections, try again later")
TOO_MANY_FROM_CLIENT = Reply(421, "4.7.0 %s Too many connections from your address, "
                                  "try again later")
STORAGE_FAILED = Reply(451, "4.3.0 Local error in processing; try again later")
TOO_MANY_RECIPIENTS = Reply(452, "4.5.3 Too many recipients")

BAD_COMMAND = Reply(500, "5.5.2 Command unrecognized")
LINE_TOO_LONG = Reply(500, "5.5.2 Line too long")
DATA_LINE_TOO_LONG = Reply(500, "5.5.2 Message has a line longer than 998 characters")
SYNTAX_ERROR = Reply(501, "5.5.4 Syntax error in parameters or arguments")
NOT_IMPLEMENTED = Reply(502, "5.5.1 Command not implemented")
BAD_SEQUENCE = Reply(503, "5.5.1 Bad sequence of commands")
NEED_HELO = Reply(503, "5.5.1 Send HELO or EHLO first")
NEED_MAIL = Reply(503, "5.5.1 Need MAIL before RCPT")
NEED_RCPT = Reply(503, "5.5.1 Need RCPT before DATA")
NESTED_MAIL = Reply(503, "5.5.1 Sender already given")
RELAY_DENIED = Reply(550, "5.7.1 <%s>: Relay access denied")
ADDRESS_FORM_REFUSED = Reply(550, "5.7.1 <%s>: Address form not accepted here")
UNKNOWN_RECIPIENT = Reply(550, "5.7.1 <%s>: Recipient not accepted here")
TOO_BIG = Reply(552, "5.3.4 Message size exceeds fixed limit")
BAD_SENDER_SYNTAX = Reply(553, "5.1.7 Bad sender address syntax")
BAD_RECIPIENT_SYNTAX = Reply(553, "5.1.3 Bad recipient address syntax")
BAD_PARAMETER = Reply(555, "5.5.4 Parameter not recognized: %s")


class Refused(Exception):
    """Raised by a policy or a storage hook to send ``reply`` to the client."""

    def __init__(self, reply):
        super().__init__("%d %s" % reply)
        self.reply = reply
