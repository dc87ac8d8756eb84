"""The SMTP session limits both mx and the relay take on their command lines."""
from servers.common.session_limits import SessionTable
from servers.smtpd.protocol import MAX_CONNECTIONS, MAX_PER_CLIENT, SESSION_DEADLINE

# Connections the kernel completes before we accept them: a burst (thousands of
# clients at once) waits there instead of having its SYNs dropped (1 s retries).
LISTEN_BACKLOG = 1024


def add_limit_options(parser):
    parser.add_argument("--max-connections", type=int, default=MAX_CONNECTIONS, metavar="N",
                        help="SMTP sessions held at once; at the limit the idlest is closed "
                             "(421) to make room, or the new one refused with 421 if all are "
                             "active (default %(default)s)")
    parser.add_argument("--max-connections-per-client", type=int, default=MAX_PER_CLIENT,
                        metavar="N", help="sessions at once from one address; more get 421 "
                                          "(default %(default)s)")
    parser.add_argument("--session-deadline", type=float, default=SESSION_DEADLINE, metavar="S",
                        help="the longest an SMTP session may last, however it keeps busy "
                             "(421 then; default %(default)s s)")


def check_limit_options(options):
    if options.max_connections < 1 or options.max_connections_per_client < 1:
        raise ValueError("--max-connections and --max-connections-per-client must be >= 1")
    if options.session_deadline <= 0:
        raise ValueError("--session-deadline must be > 0")
    return ["at most %d sessions (%d per client), each at most %g s"
            % (options.max_connections, options.max_connections_per_client,
               options.session_deadline)]


def session_table(options, clock, name):
    return SessionTable(options.max_connections, options.max_connections_per_client, clock, name)
