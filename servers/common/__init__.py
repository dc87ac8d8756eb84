"""Pieces more than one maillab server (or the lab) uses:

- ``events``: the JSON-lines event log every server writes (docs/design.md);
- ``durable``: write, fsync, rename, fsync the directory;
- ``endpoints``: the one HOST:PORT parser;
- ``mx_lookup``: MX lookup through a given DNS server, in RFC 5321 order;
- ``smtpclient``: the SMTP client the relay and the sender deliver with;
- ``provision_proto``: the signed requests the relay sends the provisioner;
- ``config_check``: the file checks behind every server's ``--check``;
- ``startup``: what every server's ``main`` does first (``--check``, logging).
"""
