"""Maildir delivery, durable, and exactly once per (Message-ID, recipient).

Layout: ROOT/<localpart@domain>/{tmp,new,cur}. A message is written in
tmp/, fsynced, renamed into new/, and new/ is fsynced; only then is it
delivered. Several messages are written as one batch so that a directory
and the dedup file are fsynced once per batch, not once per message.

Dedup: ROOT/.delivered is an append-only file of JSON lines
``["<msgid>", "rcpt"]``, fsynced with each batch after the messages. A
crash between the Maildir rename and that append would forget a delivery,
so each file name also carries a hash of its Message-ID (``,I=...``), and
the names in new/ and cur/ are read back at start as well.
"""
import hashlib
import itertools
import json
import logging
import os
import re
import time

from servers.common.durable import fsync_dir, fsync_dirs, make_dirs, write_files_synced

log = logging.getLogger(__name__)

DEDUP_FILE = ".delivered"
_NAME_HASH = re.compile(r",I=([0-9a-f]{16})")
_counter = itertools.count(1)


def msgid_hash(msgid):
    return hashlib.sha256(msgid.encode("utf-8", "replace")).hexdigest()[:16]


def _safe_host(hostname):
    return hostname.replace("/", "\\057").replace(":", "\\072").replace(",", "\\054")


class Maildirs:
    """All the recipients' Maildirs under one root, with the dedup set."""

    def __init__(self, root, hostname="localhost", clock=time.time):
        self.root = os.path.abspath(root)
        self.hostname = _safe_host(hostname)
        self.clock = clock
        make_dirs(self.root)
        self._delivered = set()       # (msgid hash, rcpt)
        self._torn_tail = False
        self._known_dirs = set()
        self._load_dedup()

    # -- dedup

    def _load_dedup(self):
        path = os.path.join(self.root, DEDUP_FILE)
        try:
            with open(path, "rb") as f:
                for line in f:
                    try:
                        msgid, rcpt = json.loads(line)
                    except (ValueError, TypeError):
                        continue      # a torn last line after a crash
                    self._delivered.add((msgid_hash(msgid), rcpt))
                # After a torn last line, start the next record on a line of its own.
                self._torn_tail = not line.endswith(b"\n") if f.tell() else False
        except FileNotFoundError:
            pass
        for rcpt in os.listdir(self.root):
            for sub in ("new", "cur"):
                try:
                    names = os.listdir(os.path.join(self.root, rcpt, sub))
                except (NotADirectoryError, FileNotFoundError):
                    continue
                for name in names:
                    m = _NAME_HASH.search(name)
                    if m:
                        self._delivered.add((m.group(1), rcpt))

    def already_delivered(self, msgid, rcpt):
        return (msgid_hash(msgid), rcpt) in self._delivered

    # -- delivery

    def mailbox(self, rcpt):
        return os.path.join(self.root, rcpt)

    def _ensure_maildir(self, rcpt):
        if rcpt in self._known_dirs:
            return
        box = self.mailbox(rcpt)
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(box, sub), exist_ok=True)
        # Make the directories' names durable, even those an earlier run made
        # and died before syncing: once per mailbox and run.
        fsync_dir(box)
        fsync_dir(self.root)
        self._known_dirs.add(rcpt)

    def _file_name(self, msgid):
        now = self.clock()
        return "%d.M%dP%dQ%d.%s,I=%s" % (
            int(now), int((now % 1) * 1e6), os.getpid(), next(_counter),
            self.hostname, msgid_hash(msgid))

    def deliver_batch(self, messages):
        """Deliver each message (with ``msgid``, ``recipients``, ``data``) to
        each of its recipients' Maildirs. Blocking: run it in a thread.

        Returns, per message, ``{rcpt: path in new/, or None for a duplicate
        not written again}``. Raises if the batch could not be made durable.
        """
        results = []
        planned = []              # (dedup key, msgid, rcpt, tmp path, new path, data)
        keys = set()
        for message in messages:
            outcome = {}
            for rcpt in message.recipients:
                key = (msgid_hash(message.msgid), rcpt)
                if key in self._delivered or key in keys:
                    outcome[rcpt] = None
                    continue
                keys.add(key)
                self._ensure_maildir(rcpt)
                name = self._file_name(message.msgid)
                box = self.mailbox(rcpt)
                planned.append((key, message.msgid, rcpt, os.path.join(box, "tmp", name),
                                os.path.join(box, "new", name), message.data))
                outcome[rcpt] = planned[-1][4]
            results.append(outcome)
        if not planned:
            return results
        write_files_synced([(tmp, data) for _, _, _, tmp, _, data in planned])
        for _, _, _, tmp, new, _ in planned:
            os.rename(tmp, new)
        fsync_dirs(sorted({os.path.dirname(new) for _, _, _, _, new, _ in planned}))
        self._append_dedup([(msgid, rcpt) for _, msgid, rcpt, _, _, _ in planned])
        self._delivered.update(key for key, _, _, _, _, _ in planned)
        return results

    def _append_dedup(self, pairs):
        path = os.path.join(self.root, DEDUP_FILE)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            data = b"".join(json.dumps([m, r]).encode() + b"\n" for m, r in pairs)
            if self._torn_tail:
                data = b"\n" + data
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
            self._torn_tail = False
        finally:
            os.close(fd)


def messages_in(maildir):
    """Paths of the messages in one Maildir (new/ and cur/)."""
    paths = []
    for sub in ("new", "cur"):
        d = os.path.join(maildir, sub)
        if os.path.isdir(d):
            paths.extend(os.path.join(d, n) for n in sorted(os.listdir(d)))
    return paths
