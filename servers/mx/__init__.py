"""The messaging server: ESMTP for its domains, one Maildir per recipient,
every message durable before its 250.

- ``maildir``  : durable Maildir delivery and the restart-proof dedup store
- ``storage``  : the smtpd storage hook (group commit in a thread, events)
- ``service``  : options, --check, the listening service (make_service)
- ``__main__`` : main(): the command line, signals
"""
