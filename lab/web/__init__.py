"""The live view: the lab drawn in a browser, its state pushed as it changes.

``maillab up --web`` and ``maillab run SCENARIO --web`` serve it on
127.0.0.1 (``twisted.web`` in a reactor thread of the orchestrating
process). It observes from that process only (the event logs in the run
directory, the service processes, the relay's queue directory and the
address plan), never through the lab network, so it keeps drawing while
links are cut and hosts destroyed.

The drawing and the state it shows are ``lab.netview`` (shared with report.html).

- ``watcher``: reads the run directory and the processes, feeds live_state.
- ``actions``: what the page may ask of ``maillab up`` (send, fault, stop,
  re-create), run through the lab's own verbs.
- ``guard``: who may look and who may act (Host, token, Origin). Pure.
- ``server``: the web resources, Server-Sent Events, the reactor thread.
- ``options``: the ``--web`` command-line options and the view's life around a run.
- ``page/``: the page itself (HTML, JavaScript, CSS; nothing from elsewhere).
"""

DEFAULT_PORT = 7080
DEFAULT_BIND = "127.0.0.1"
