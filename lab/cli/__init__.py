"""Every command-line entry point, and nothing else imports from here.

- ``maillab``: the ``maillab`` command, its parser and sub-commands (the console script);
- ``run``: ``maillab scenarios``, ``run SCENARIO|all``, ``demo``;
- ``chaos``: ``maillab chaos``;
- ``exercise``: ``maillab exercises``, ``exercise N``, ``answers``, ``check``, ``solve``;
- ``up``: ``maillab up`` (the Mininet CLI with lab commands) and each topology's ``__main__``;
- ``bench``: ``maillab bench relay``.
"""
