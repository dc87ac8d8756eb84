"""A Twisted TCP echo server, for lab tests: echo_server.py ADDR PORT."""
import sys

from twisted.internet import protocol, reactor


class Echo(protocol.Protocol):
    def dataReceived(self, data):
        self.transport.write(data)


factory = protocol.Factory.forProtocol(Echo)
reactor.listenTCP(int(sys.argv[2]), factory, interface=sys.argv[1])
reactor.run()
