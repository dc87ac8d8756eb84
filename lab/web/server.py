"""The live view's web server: twisted.web on a reactor of its own, in a thread.

    with LiveView("relay-failover", port=7080) as view:     # serving
        with view.watch(lab):                               # drawing this lab
            ...
        view.finish(verdict, report_dir)                    # the verdict and the report

The reactor is a private instance (not ``twisted.internet.reactor``), so a
process can open several views one after another (``maillab run all``,
the tests) and the global reactor stays free. Everything that touches the
state runs in the reactor's thread; the lab's verbs asked from the page run
one at a time in a worker thread of their own.

Guards (``lab.web.guard``): the server answers only to a Host that is an IP
address or ``localhost``; an action needs the per-run token of the page's
URL, a JSON body and the page's own Origin. Without them it gets 403 and
changes nothing.
"""
import contextlib
import itertools
import json
import logging
import mimetypes
import os
import queue
import secrets
import sys
import threading
import time

from urllib.parse import unquote_to_bytes

from twisted.internet import defer, protocol, task
from twisted.protocols import policies
from twisted.python import failure
from twisted.web import pages, resource, server

from lab.web import actions
from lab.web.guard import action_refusal, host_allowed
from lab.netview.live_state import LiveState
from lab.web import DEFAULT_BIND, DEFAULT_PORT
from lab.web.watcher import LabWatcher, drawing_of

log = logging.getLogger(__name__)

TICK = 0.5              # seconds between looks at the lab
KEEPALIVE = 15.0        # seconds between SSE comments on a quiet stream
CALL_TIMEOUT = 10.0     # seconds the orchestrating thread waits for the web thread
MAX_CONNECTIONS = 64    # held at once; more get 503 (a page and its event stream use 2 or 3)
IDLE_TIMEOUT = 60.0     # seconds without a byte either way (event streams send one every 15)
MAX_PATH = 2048         # bytes of a request path
PAGE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "page")
EMPTY_DRAWING = {"width": 100, "height": 100, "groups": [], "nodes": [], "links": []}


def new_reactor():
    try:
        from twisted.internet.epollreactor import EPollReactor as Reactor
    except ImportError:         # not Linux
        from twisted.internet.selectreactor import SelectReactor as Reactor
    return Reactor()


def report_link(report_dir):
    """report.html where there is one, else report.md (relative to /report/)."""
    for name in ("report.html", "report.md"):
        if os.path.exists(os.path.join(report_dir, name)):
            return name
    return ""


def _header(request, name):
    value = request.getHeader(name)
    return value if value is None or isinstance(value, str) else value.decode("latin-1")


def _json(request, code, body):
    request.setResponseCode(code)
    request.setHeader(b"Content-Type", b"application/json")
    request.setHeader(b"Cache-Control", b"no-store")
    return json.dumps(body).encode()


TEXT_TYPES = {".md": "text/plain; charset=utf-8", ".jsonl": "text/plain; charset=utf-8",
              ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
              ".html": "text/html; charset=utf-8"}


def malformed_path(raw):
    """Why the request path ``raw`` (bytes, percent-encoded) is malformed, or None:
    too long, not UTF-8, or a control character (NUL included) once decoded."""
    if len(raw) > MAX_PATH:
        return "path too long"
    decoded = unquote_to_bytes(raw.split(b"?", 1)[0])
    try:
        text = decoded.decode("utf-8")
    except UnicodeDecodeError:
        return "path is not UTF-8"
    if any(ord(c) < 0x20 or ord(c) == 0x7f for c in text):
        return "control character in path"
    return None


class Files(resource.Resource):
    """The files of one directory, read whole (twisted.web's static.File
    streams through the global reactor, which is not the one running here)."""

    isLeaf = True       # the rest of the path names the file

    def __init__(self, directory, index=None, single=False):
        super().__init__()      # index: the file of a bare path; single: the only one
        self.directory = directory
        self.index = index
        self.single = single

    def render_GET(self, request):
        parts = [p.decode("utf-8", "replace") for p in request.postpath] or [""]
        if self.single and any(request.postpath):
            return pages.notFound().render(request)     # /live.js/anything
        name = "/".join(parts) or self.index or ""
        path = os.path.realpath(os.path.join(self.directory, name))
        inside = path.startswith(os.path.realpath(self.directory) + os.sep)
        if not name or not inside or not os.path.isfile(path):
            return pages.notFound().render(request)
        ext = os.path.splitext(path)[1]
        kind = TEXT_TYPES.get(ext) or mimetypes.guess_type(path)[0] or "application/octet-stream"
        request.setHeader(b"Content-Type", kind.encode())
        request.setHeader(b"Cache-Control", b"no-cache")
        with open(path, "rb") as f:
            return f.read()


class Root(resource.Resource):
    def __init__(self, view):
        super().__init__()
        self.view = view
        for name in ("live.js", "live.css"):
            self.putChild(name.encode(), Files(PAGE_DIR, index=name, single=True))
        self.putChild(b"", Files(PAGE_DIR, index="index.html"))
        self.putChild(b"events", EventStream(view))
        self.putChild(b"state", StateJSON(view))
        self.putChild(b"api", ActionAPI(view))

    def getChildWithDefault(self, path, request):
        if not host_allowed(_header(request, "host")):
            return pages.forbidden("Forbidden",
                                   "this page answers to IP addresses and localhost only")
        why = malformed_path(request.uri or b"")
        if why:
            return pages.errorPage(400, "Bad Request", why)
        return super().getChildWithDefault(path, request)

    def getChild(self, path, request):
        return pages.notFound()


class _Busy(protocol.Protocol):
    """A connection over the cap: 503 and close."""

    def connectionMade(self):
        self.transport.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                             b"Connection: close\r\n\r\n")
        self.transport.loseConnection()


class CappedSite(policies.TimeoutFactory):
    """``site`` with at most ``max_connections`` held and an idle timeout, on
    ``reactor`` (TimeoutFactory alone would time on the global one)."""

    def __init__(self, site, reactor, max_connections=MAX_CONNECTIONS,
                 idle_timeout=IDLE_TIMEOUT):
        super().__init__(site, timeoutPeriod=idle_timeout)
        self.reactor = reactor
        self.max_connections = max_connections

    def callLater(self, period, func):
        return self.reactor.callLater(period, func)

    def buildProtocol(self, addr):
        if len(self.protocols) >= self.max_connections:
            return _Busy()
        return super().buildProtocol(addr)


class ViewResource(resource.Resource):
    """A leaf that answers from the LiveView."""
    isLeaf = True

    def __init__(self, view):
        super().__init__()
        self.view = view


class EventStream(ViewResource):
    """Server-Sent Events: the whole state on connect, then on every change."""

    def render_GET(self, request):
        request.setHeader(b"Content-Type", b"text/event-stream; charset=utf-8")
        request.setHeader(b"Cache-Control", b"no-store")
        self.view.subscribe(request)
        return server.NOT_DONE_YET


class StateJSON(ViewResource):
    def render_GET(self, request):
        return _json(request, 200, self.view.snapshot())


class ActionAPI(ViewResource):
    def render_GET(self, request):
        return _json(request, 405, {"error": "actions are POSTed"})

    def render_POST(self, request):
        given = (request.args.get(b"token") or [b""])[0].decode("latin-1")
        why = action_refusal(self.view.token, given, _header(request, "host"),
                             _header(request, "origin"), _header(request, "content-type"))
        if why is None and not self.view.allow_actions:
            why = "this view only watches (actions are for maillab up --web)"
        if why is not None:
            return _json(request, 403, {"error": why})
        try:
            action = actions.parse(json.loads(request.content.read() or b"null"))
        except (ValueError, actions.BadAction) as e:
            return _json(request, 400, {"error": str(e)})
        action_id = self.view.submit(action)
        if action_id is None:
            return _json(request, 409, {"error": "no lab is running"})
        return _json(request, 202, {"id": action_id, "what": action.text})


class Worker:
    """One daemon thread doing the page's actions in order (never blocks exit)."""

    def __init__(self):
        self.jobs = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="maillab-web-actions",
                                       daemon=True)
        self.thread.start()

    def submit(self, job, done):
        self.jobs.put((job, done))

    def stop(self):
        self.jobs.put((None, None))

    def _run(self):
        while True:
            job, done = self.jobs.get()
            if job is None:
                return
            try:
                result, ok = job(), True
            except Exception as e:      # the page shows it; the lab goes on
                log.exception("page action failed")
                result, ok = "%s: %s" % (type(e).__name__, e), False
            done(ok, result)


class LiveView:
    def __init__(self, title="maillab", port=DEFAULT_PORT, bind=DEFAULT_BIND,
                 allow_actions=False, now=time.time):
        self.title = title
        self.port = port
        self.bind = bind
        self.allow_actions = allow_actions
        self.now = now
        self.token = secrets.token_urlsafe(18)
        self.reactor = new_reactor()
        self.state = LiveState(EMPTY_DRAWING, title, self._mode())
        self.state.set_live(False)          # no lab yet (one may be starting)
        self.lab = None
        self.watcher = None
        self.clients = set()
        self._sent = None
        self._ids = itertools.count(1)
        self._loops = []
        self._worker = None
        self._root = None
        self.listening = None
        self.thread = None

    def _mode(self):
        return "up" if self.allow_actions else "run"

    # --- life cycle (called from the orchestrating thread) -------------------------
    def start(self):
        self._root = Root(self)
        site = server.Site(self._root, reactor=self.reactor)
        site.displayTracebacks = False
        site.log = lambda request: None       # no access log on the lab's terminal
        self.listening = self.reactor.listenTCP(self.port, CappedSite(site, self.reactor),
                                                interface=self.bind)
        self.thread = threading.Thread(target=self.reactor.run,
                                       kwargs={"installSignalHandlers": False},
                                       name="maillab-web", daemon=True)
        self.thread.start()
        if self.allow_actions:
            self._worker = Worker()
        self._call(self._start_loops)
        return self

    def stop(self):
        if self.thread is None:
            return
        try:
            if self.thread.is_alive():
                self._call(self._shut)
        finally:
            self.reactor.callFromThread(self.reactor.stop)
            self.thread.join(5)
            if self._worker is not None:
                self._worker.stop()
            self.thread = None

    def __enter__(self):
        return self if self.thread is not None else self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    @property
    def url(self):
        host = self.bind if self.bind not in ("", "0.0.0.0", "::") else "127.0.0.1"
        if ":" in host:
            host = "[%s]" % host
        port = self.listening.getHost().port
        query = "?token=%s" % self.token if self.allow_actions else ""
        return "http://%s:%d/%s" % (host, port, query)

    @contextlib.contextmanager
    def watch(self, lab, title=None):
        """Draw ``lab`` while the block runs (leave it before the lab is torn down).
        A page that cannot draw the lab says so and never stops the lab."""
        try:
            self._call(self._attach, lab, title or self.title)
        except Exception:
            log.exception("live page: cannot draw this lab")
            yield self
            return
        try:
            yield self
        finally:
            try:
                self._call(self._detach)
            except Exception:
                log.exception("live page: leaving the lab")

    def finish(self, verdict, report_dir):
        """Show the run's verdict and serve its report directory under /report/."""
        summary = {k: getattr(verdict, k) for k in ("ok", "sent", "delivered", "lost",
                                                    "duplicates", "queued")}
        summary["checks"] = [{"name": c.name, "claim": c.claim, "ok": c.ok}
                             for c in verdict.checks]
        link = report_link(report_dir)
        summary["report"] = "/report/" + link if link else ""
        self._call(self._finish, summary, os.path.abspath(report_dir))

    def snapshot(self):
        return self.state.snapshot(self.now())

    # --- in the reactor thread ---------------------------------------------------------
    def _call(self, f, *args, timeout=CALL_TIMEOUT):
        """Run ``f`` in the reactor's thread and return its result; never hang
        the caller (a lab's teardown) on a web thread that does not answer."""
        if self.thread is None or not self.thread.is_alive():
            raise RuntimeError("the live page's thread is not running")
        done, result = threading.Event(), []

        def run():
            d = defer.maybeDeferred(f, *args)
            d.addBoth(lambda r: (result.append(r), done.set()))
        self.reactor.callFromThread(run)
        if not done.wait(timeout):
            raise RuntimeError("the live page's thread did not answer in %.0f s" % timeout)
        if isinstance(result[0], failure.Failure):
            result[0].raiseException()
        return result[0]

    def _start_loops(self):
        for interval, f in ((TICK, self._tick), (KEEPALIVE, self._keepalive)):
            loop = task.LoopingCall(f)
            loop.clock = self.reactor
            loop.start(interval, now=False)
            self._loops.append(loop)

    def _shut(self):
        for loop in self._loops:
            loop.stop()
        for request in list(self.clients):
            request.finish()
        self.clients.clear()
        return self.listening.stopListening()

    def _attach(self, lab, title):
        static_info = {"can_act": self.allow_actions,
                       "clients": [c.name for c in lab.plan.clients]}
        if self.allow_actions:
            static_info["fault_menu"] = actions.fault_menu()
        self.state = LiveState(drawing_of(lab), title, self._mode(),
                               mx=lab.expected_mx(), started=self.now(),
                               static=static_info)
        self.lab = lab
        self.watcher = LabWatcher(lab, self.state, self.now)
        self._tick()

    def _detach(self):
        self._tick()
        self.watcher = None
        self.lab = None
        self.state.set_live(False, self.now())
        self._push()

    def _finish(self, summary, report_dir):
        self._root.putChild(b"report", Files(report_dir))
        self.state.finish(summary)
        self._push()

    def _tick(self):
        if self.watcher is not None:
            try:
                self.watcher.tick()
            except Exception:       # a half-written file, a host going away: next tick
                log.exception("live view: looking at the lab failed")
        self._push()

    def _keepalive(self):
        for request in list(self.clients):
            request.write(b": keep-alive\n\n")

    def subscribe(self, request):
        self.clients.add(request)
        request.notifyFinish().addBoth(lambda _: self.clients.discard(request))
        request.write(b"retry: 1000\n" + self._message())

    def _message(self):
        data = json.dumps(self.snapshot(), separators=(",", ":"))
        return ("event: state\ndata: %s\n\n" % data).encode()

    def _push(self):
        if self.state.version == self._sent or not self.clients:
            return
        self._sent = self.state.version
        message = self._message()
        for request in list(self.clients):
            request.write(message)

    def submit(self, action):
        """Queue a page action for the worker; its id, or None without a lab."""
        if self.lab is None or self._worker is None:
            return None
        action_id = next(self._ids)
        lab = self.lab
        self.state.note_action(action_id, action.text, "running")
        self._push()

        def done(ok, result):
            self.reactor.callFromThread(self._action_done, action_id, action.text, ok, result)
        self._worker.submit(lambda: action.run(lab), done)
        return action_id

    def _action_done(self, action_id, text, ok, result):
        self.state.note_action(action_id, text, "done" if ok else "failed", str(result or ""),
                               ts=self.now())
        self._push()


# -- the view's life around a command (``--web``) ---------------------------------------

@contextlib.contextmanager
def live_view(args, title, allow_actions=False, out=None):
    """A running LiveView when ``--web`` was given, else None."""
    out = out or sys.stdout
    if getattr(args, "web", None) is None:
        yield None
        return
    from twisted.internet.error import CannotListenError
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
