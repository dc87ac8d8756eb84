"""``--web [PORT]`` and ``--web-bind ADDR`` for ``maillab run``, ``demo`` and ``up``."""
import contextlib
import sys

DEFAULT_PORT = 7080
DEFAULT_BIND = "127.0.0.1"


def add_arguments(parser, actions=False):
    what = "watch it and act on it" if actions else "watch it"
    parser.add_argument("--web", nargs="?", type=int, const=DEFAULT_PORT, default=None,
                        metavar="PORT", help="serve a live page of the lab to %s (default "
                        "port %d, on %s)" % (what, DEFAULT_PORT, DEFAULT_BIND))
    parser.add_argument("--web-bind", default=DEFAULT_BIND, metavar="ADDR",
                        help="address the live page listens on (default %s: this machine "
                        "only; 0.0.0.0 opens it to other machines)" % DEFAULT_BIND)


@contextlib.contextmanager
def live_view(args, title, allow_actions=False, out=None):
    """A running LiveView when ``--web`` was given, else None."""
    out = out or sys.stdout
    if getattr(args, "web", None) is None:
        yield None
        return
    from twisted.internet.error import CannotListenError
    from lab.web.server import LiveView
    view = LiveView(title, port=args.web, bind=args.web_bind, allow_actions=allow_actions)
    try:
        view.start()
    except CannotListenError as e:
        raise SystemExit("maillab: the live page cannot listen on %s port %d (%s); "
                         "give another port: --web PORT" % (args.web_bind, args.web,
                                                            e.socketError)) from None
    with view:
        print("*** live page: %s" % view.url, file=out, flush=True)
        if args.web_bind != DEFAULT_BIND:
            print("*** the live page listens on %s: anyone who can reach it sees the lab%s"
                  % (args.web_bind, "; actions need the token in the address"
                     if allow_actions else ""), file=out, flush=True)
        yield view


def watching(view, lab):
    """Draw ``lab`` on the live page while the block runs (nothing without --web)."""
    return view.watch(lab) if view is not None else contextlib.nullcontext()


def watched(factory, view, title):
    """A lab ``factory`` whose labs the live page draws, from up until their teardown."""
    @contextlib.contextmanager
    def make(*args, **kwargs):
        with factory(*args, **kwargs) as lab, view.watch(lab, title):
            yield lab
    return make


def hold(view, out=None, stdin=None):
    """Keep the page up after a run until Enter, when a person is at the terminal."""
    out, stdin = out or sys.stdout, stdin or sys.stdin
    if view is None or not stdin.isatty():
        return
    print("*** the live page shows the verdict at %s; press Enter to stop it" % view.url,
          file=out, flush=True)
    try:
        stdin.readline()
    except (KeyboardInterrupt, EOFError):
        pass
