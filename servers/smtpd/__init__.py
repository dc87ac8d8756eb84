"""The ESMTP receive side shared by the messaging server and the relay.

- ``replies``  : every reply code and text we send, by name
- ``address``  : envelope address parsing (source routes, quoting)
- ``recipients``: which recipients are accepted (never an open relay)
- ``received`` : the received message: Received: header, Message-ID
- ``protocol`` : the ESMTP server protocol (a ``twisted.mail.smtp.ESMTP``)
- ``batch``    : group commit of blocking storage work in a thread
"""
