"""python -m servers.dns: the lab's authoritative DNS server."""
import logging
import sys

from twisted.internet import error

from servers.common.startup import begin
from servers.dns.service import build_parser, check_config, make_service
from servers.dns.zone import ZoneError


def main(argv=None):
    options = build_parser().parse_args(argv)
    status = begin("servers.dns", options, check_config, default_level=logging.INFO)
    if status is not None:
        return status
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
