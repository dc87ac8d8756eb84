"""A Twisted ESMTP server that accepts any mail and keeps nothing, for lab
tests: smtp_sink.py ADDR PORT. Prints 'listening on ADDR:PORT' when ready."""
import sys

from twisted.internet import defer, reactor
from twisted.mail import smtp
from zope.interface import implementer


@implementer(smtp.IMessage)
class Discard:
    def lineReceived(self, line):
        pass

    def eomReceived(self):
        return defer.succeed(None)

    def connectionLost(self):
        pass


@implementer(smtp.IMessageDelivery)
class AcceptAll:
    def receivedHeader(self, helo, origin, recipients):
        return b"Received: by smtp_sink"

    def validateFrom(self, helo, origin):
        return origin

    def validateTo(self, user):
        return Discard


class Factory(smtp.SMTPFactory):
    protocol = smtp.ESMTP

    def buildProtocol(self, addr):
        p = smtp.SMTPFactory.buildProtocol(self, addr)
        p.delivery = AcceptAll()
        return p


port = reactor.listenTCP(int(sys.argv[2]), Factory(), interface=sys.argv[1])
print("listening on %s:%d" % (sys.argv[1], port.getHost().port), file=sys.stderr, flush=True)
reactor.run()
