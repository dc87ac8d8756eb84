"""maillab's servers: dns, mx, relay and the sender, each ``python -m servers.NAME``.

Every server has the same shape: ``servers/NAME/service.py`` holds
``build_parser()``, ``check_config(options)`` (what ``--check`` verifies) and
``make_service(options, reactor)``; ``__main__.py`` only runs it.

Time is a parameter, named by what it is: ``clock`` is a Twisted
``IReactorTime`` (``seconds()``, ``callLater``; ``task.Clock`` in tests),
``reactor`` one that also makes connections, and ``now`` a wall-clock
callable (``time.time`` by default) where only a time stamp is needed.
"""
