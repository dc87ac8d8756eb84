"""python -m servers.mx: the messaging server."""
import logging
import sys

from servers.common.startup import begin
from servers.mx.service import build_parser, check_config, make_service

log = logging.getLogger("servers.mx")


def main(argv=None):
    args = build_parser().parse_args(argv)
    status = begin("servers.mx", args, check_config)
    if status is not None:
        return status
    from twisted.internet import reactor

    top = make_service(args, reactor)
    events = top.events
    top.startService()
    bound = top.listener._port.getHost()
    print("listening on %s:%d" % (bound.host, bound.port), file=sys.stderr, flush=True)
    events.emit("started", port=bound.port, listen=bound.host, domains=top.domains,
                maildir=top.maildir)
    reactor.addSystemEventTrigger("before", "shutdown", top.stopService)
    reactor.run()      # SIGTERM and SIGINT stop it (Twisted's own handlers)
    events.emit("stopped")
    events.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
