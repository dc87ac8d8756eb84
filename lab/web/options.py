"""``--web [PORT]`` and ``--web-bind ADDR`` for ``maillab run``, ``demo`` and ``up``."""
from lab.web import DEFAULT_BIND, DEFAULT_PORT


def add_arguments(parser, actions=False):
    what = "watch it and act on it" if actions else "watch it"
    parser.add_argument("--web", nargs="?", type=int, const=DEFAULT_PORT, default=None,
                        metavar="PORT", help="serve a live page of the lab to %s (default "
                        "port %d, on %s)" % (what, DEFAULT_PORT, DEFAULT_BIND))
    parser.add_argument("--web-bind", default=DEFAULT_BIND, metavar="ADDR",
                        help="address the live page listens on (default %s: this machine "
                        "only; 0.0.0.0 opens it to other machines)" % DEFAULT_BIND)
