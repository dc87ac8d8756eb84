"""Send one TSIG-signed RFC 2136 UPDATE to the lab DNS server.

Run inside a lab host (the orchestrator's own namespace has no route into
the lab): ``python -m lab.dnsupdate --server IP:PORT --key FILE --zone Z
--add "NAME TTL TYPE RDATA" ...``. Exits 0 when the server answered NOERROR.
"""
import argparse
import logging
import subprocess
import sys

log = logging.getLogger(__name__)


def parse_add(text):
    name, ttl, rtype, rdata = text.split(None, 3)
    return name, int(ttl), rtype.upper(), rdata


def nsupdate_script(server, port, zone, adds):
    lines = ["server %s %d" % (server, port), "zone %s" % zone]
    lines += ["update add %s %d %s %s" % a for a in adds]
    return "\n".join(lines + ["send", ""])


def send(server, port, zone, key_file, adds, timeout=5):
    """The server's rcode as text ("NOERROR" on success)."""
    try:
        from servers.dns.tsig import read_key_file
        from servers.dns.update_client import send_update
    except ImportError:
        r = subprocess.run(["nsupdate", "-t", str(int(timeout)), "-k", key_file],
                           input=nsupdate_script(server, port, zone, adds),
                           capture_output=True, text=True, timeout=timeout + 5)
        if r.returncode == 0:
            return "NOERROR"
        return (r.stderr or r.stdout).strip() or "nsupdate failed"
    return send_update(server, port, zone, read_key_file(key_file), adds=adds,
                       timeout=timeout)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m lab.dnsupdate", description=__doc__.split("\n")[0])
    p.add_argument("--server", required=True, help="IP:PORT of the DNS server")
    p.add_argument("--key", required=True, help="TSIG key file (BIND format)")
    p.add_argument("--zone", required=True)
    p.add_argument("--add", action="append", default=[], type=parse_add,
                   metavar='"NAME TTL TYPE RDATA"')
    p.add_argument("--timeout", type=float, default=5)
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)
    ip, port = args.server.rsplit(":", 1)
    rcode = send(ip, int(port), args.zone, args.key, args.add, timeout=args.timeout)
    print(rcode)
    return 0 if rcode == "NOERROR" else 1


if __name__ == "__main__":
    sys.exit(main())
