"""Deliberately broken variants of the lab's servers and provisioner, one per
claim they violate, for tests that show the verdict failing that claim.

A server variant is a module run as ``python -m tests.variants.NAME`` in
place of the real server (``Lab(relay_module=...)``, ``Lab(dns_module=...)``):
it changes one thing in the real code, then runs the real ``main``. A
provisioner variant is a ``Lab`` subclass (``Run(lab_options={"lab_class":
...})``). Nothing here ships in the servers or in ``maillab``.
"""
import sys


def run_relay(patch):
    """Apply ``patch()`` to the real relay's modules, then run the real relay."""
    patch()
    from servers.relay.__main__ import main
    sys.exit(main())


def run_dns(patch, argv=None):
    patch()
    from servers.dns.__main__ import main
    sys.exit(main(argv))
