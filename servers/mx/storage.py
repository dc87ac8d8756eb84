"""The messaging server's storage hook for servers.smtpd: Maildir delivery
in a worker thread, batched across sessions, then ``delivered`` events."""
import logging

from twisted.internet import threads

from servers.smtpd.batch import GroupCommit

log = logging.getLogger(__name__)


class MaildirStorage:
    def __init__(self, maildirs, events, run_in_thread=threads.deferToThread):
        self.maildirs = maildirs
        self.events = events
        self.spool_dir = maildirs.root     # DATA is spooled here as it arrives (unnamed files)
        self._commits = GroupCommit(maildirs.deliver_batch, run_in_thread)

    def store(self, message):
        d = self._commits.submit(message)
        d.addCallback(self._delivered, message)
        return d

    def _delivered(self, outcome, message):
        for rcpt, path in outcome.items():
            if path is None:
                log.info("duplicate %s for %s not delivered again", message.msgid, rcpt)
                self.events.emit("duplicate", msgid=message.msgid, rcpt=rcpt,
                                 sender=message.sender, peer=message.peer)
            else:
                log.info("delivered %s for %s to %s", message.msgid, rcpt, path)
                self.events.emit("delivered", msgid=message.msgid, rcpt=rcpt,
                                 sender=message.sender, peer=message.peer)
        return outcome
