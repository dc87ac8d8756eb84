"""python -m servers.dns: the lab's authoritative DNS server."""
import logging
import sys

from twisted.internet import error
from twisted.logger import STDLibLogObserver, globalLogBeginner

from servers.common.config_check import run_check
from servers.dns.service import build_parser, check_config, make_service
from servers.dns.zone import ZoneError


def main(argv=None):
    options = build_parser().parse_args(argv)
    if options.check:
        return run_check("servers.dns", check_config, options)
    logging.basicConfig(level=logging.DEBUG if options.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # Twisted's own log (unhandled errors included) goes to the same place.
    globalLogBeginner.beginLoggingTo([STDLibLogObserver()], redirectStandardIO=False)
    from twisted.internet import reactor
    try:
        top = make_service(options, reactor)
    except (ZoneError, ValueError, OSError) as e:
        print("servers.dns: %s" % e, file=sys.stderr)
        return 2
    try:
        top.startService()
    except error.CannotListenError as e:
        print("servers.dns: %s" % e, file=sys.stderr)
        return 1
    reactor.addSystemEventTrigger("before", "shutdown", top.stopService)
    reactor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
