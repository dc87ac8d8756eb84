"""``maillab cluster check HOST...`` and ``maillab cluster key``: getting servers
ready to hold part of a lab (``maillab run --cluster``)."""
import sys

from lab.host import cluster_check
from lab.host.ssh import Access, lab_key, parse_servers


def access_from(args):
    """The SSH access the options name: ``--ssh-key`` or the lab's own key, and
    ``--ssh-option``s."""
    return Access(key=args.ssh_key or lab_key(),
                  extra=tuple(getattr(args, "ssh_option", None) or ()))


def cluster_of(args, scenario=None, plan=None):
    """The lab's servers (lab.host.cluster_net.Cluster): those ``--cluster`` names,
    else the scenario's ``[cluster] servers``; or None (one machine). Its placement:
    the scenario's ``[cluster] place``, then each ``--place NAME=SERVER``; checked
    against ``plan`` when given. ValueError says what is wrong."""
    text = getattr(args, "cluster", None)
    settings = getattr(scenario, "cluster", None)
    wanted = getattr(args, "place", None) or []
    if not text and not (settings is not None and settings.servers):
        if wanted:
            raise ValueError("--place needs --cluster (or a [cluster] table in the scenario)")
        return None
    from lab.host.cluster_net import Cluster
    servers = parse_servers(text or ",".join(settings.servers))
    if not any(server.is_local for server in servers):
        # the run is driven from here (senders, faults, the verdict) and every
        # tunnel has this machine at one end
        raise ValueError("--cluster %s: this machine is not among the servers; list it as "
                         "localhost, e.g. --cluster localhost,%s"
                         % (",".join(str(s) for s in servers), servers[0]))
    placement = dict(settings.place) if settings is not None else {}
    for item in wanted:
        name, sep, server = (w.strip() for w in item.partition("="))
        if not (name and sep and server):
            raise ValueError("--place %r: expected NAME=SERVER (NAME a place: site, dc1..., "
                             "or a host)" % item)
        placement[name] = server
    cluster = Cluster(servers, access_from(args), placement)
    if plan is not None:
        cluster.placed(plan)
    return cluster


def cmd_cluster(args, out=None, access=None):
    out = out or sys.stdout
    if args.what == "key":
        with open(lab_key() + ".pub", encoding="ascii") as f:
            out.write("# add this line to /root/.ssh/authorized_keys on each server:\n")
            out.write(f.read())
        return 0
    if not args.servers:
        print("maillab cluster check: name at least one server (HOST[:PORT])", file=sys.stderr)
        return 2
    try:
        servers = parse_servers(",".join(args.servers))
    except ValueError as e:
        print("maillab cluster check: %s" % e, file=sys.stderr)
        return 2
    access = access or access_from(args)
    reports = [cluster_check.check(server, access) for server in servers
               if not server.is_local]
    for report in reports:
        for line in report.lines():
            out.write(line + "\n")
    return 0 if all(r.ready for r in reports) else 1


def add_parser(sub):
    s = sub.add_parser("cluster", help="check servers for a lab spread over several "
                       "machines (check HOST...), or print the lab's SSH key (key)",
                       description="maillab cluster check HOST... logs in to each server "
                       "([user@]host[:port]) and says what it lacks: a working SSH login, "
                       "root, Debian packages, the checkout at %s, its virtualenv. "
                       "maillab cluster key prints the public key to authorize on them."
                       % cluster_check.ROOT)
    s.add_argument("what", choices=("check", "key"))
    s.add_argument("servers", nargs="*", metavar="HOST")
    s.add_argument("--ssh-key", metavar="PATH", help="log in with this private key "
                   "(default: the lab's own, ~/.config/maillab/cluster_ed25519, made on "
                   "first use)")
    s.add_argument("--ssh-option", action="append", default=[], metavar="OPTION",
                   help="one more ssh -o option, e.g. UserKnownHostsFile=PATH (repeatable)")
    return s
