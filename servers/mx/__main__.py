"""python -m servers.mx: the messaging server."""
import logging
import sys

from servers.common.config_check import run_check
from servers.common.events import EventLog, default_host
from servers.mx.service import build_parser, check_config, make_service

log = logging.getLogger("servers.mx")


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.check:
        return run_check("servers.mx", check_config, args)
    logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from twisted.internet import reactor
    from twisted.python import log as twisted_log
    twisted_log.PythonLoggingObserver(loggerName="twisted").start()

    events = EventLog(args.events, service="mx")
    top = make_service(args, reactor, events, args.hostname or default_host())
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
