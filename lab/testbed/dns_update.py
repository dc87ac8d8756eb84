"""Send one TSIG-signed RFC 2136 UPDATE to the lab DNS server.

Run inside a lab host (the orchestrator's own namespace has no route into
the lab): ``python -m lab.testbed.dns_update --server IP:PORT --key FILE --zone Z
--add "NAME TTL TYPE RDATA" ... --delete "NAME TYPE [RDATA]" ...``. Deletions
are applied first. Exits 0 when the server answered NOERROR.
"""
import argparse
import logging
import sys

from servers.common.endpoints import host_port_arg
from servers.dns.tsig import read_key_file
from servers.dns.update_client import send_update

log = logging.getLogger(__name__)


def parse_add(text):
    name, ttl, rtype, rdata = text.split(None, 3)
    return name, int(ttl), rtype.upper(), rdata


def parse_delete(text):
    """"NAME TYPE" (the whole RRset) or "NAME TYPE RDATA" (one record)."""
    parts = text.split(None, 2)
    if len(parts) < 2:
        raise ValueError("expected NAME TYPE [RDATA], got %r" % text)
    return tuple(parts[:1] + [parts[1].upper()] + parts[2:])


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m lab.testbed.dns_update", description=__doc__.split("\n")[0])
    p.add_argument("--server", required=True, type=host_port_arg,
                   help="IP:PORT of the DNS server")
    p.add_argument("--key", required=True, help="TSIG key file (BIND format)")
    p.add_argument("--zone", required=True)
    p.add_argument("--add", action="append", default=[], type=parse_add,
                   metavar='"NAME TTL TYPE RDATA"')
    p.add_argument("--delete", action="append", default=[], type=parse_delete,
                   metavar='"NAME TYPE [RDATA]"')
    p.add_argument("--timeout", type=float, default=5)
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)
    ip, port = args.server
    try:
        rcode = send_update(ip, port, args.zone, read_key_file(args.key), adds=args.add,
                            deletes=args.delete, timeout=args.timeout)
    except (OSError, ValueError) as e:     # no answer, or an answer that fails TSIG
        rcode = "%s: %s" % (type(e).__name__, e)
    print(rcode)
    return 0 if rcode == "NOERROR" else 1


if __name__ == "__main__":
    sys.exit(main())
