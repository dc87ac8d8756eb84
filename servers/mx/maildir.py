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

from servers.common.durable import fsync_dir, write_file_synced

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
        os.makedirs(self.root, exist_ok=True)
        self._delivered = set()       # (msgid hash, rcpt)
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
                    except ValueError:
                        continue      # a torn last line after a crash
                    self._delivered.add((msgid_hash(msgid), rcpt))
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
        created = not os.path.isdir(box)
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(box, sub), exist_ok=True)
        if created:               # make the new directories' names durable
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

        Returns, per message, ``{rcpt: path or None}`` (None: a duplicate,
        not written again), or an exception if that message failed.
        """
        results = []
        written = []              # (tmp path, new path)
        records = []
        seen = set()
        for message in messages:
            try:
                outcome = {}
                for rcpt in message.recipients:
                    key = (msgid_hash(message.msgid), rcpt)
                    if key in self._delivered or key in seen:
                        outcome[rcpt] = None
                        continue
                    self._ensure_maildir(rcpt)
                    name = self._file_name(message.msgid)
                    tmp = os.path.join(self.mailbox(rcpt), "tmp", name)
                    write_file_synced(tmp, message.data)
                    written.append((tmp, os.path.join(self.mailbox(rcpt), "new", name)))
                    records.append((key, message.msgid, rcpt))
                    seen.add(key)
                    outcome[rcpt] = written[-1][1]
                results.append(outcome)
            except OSError as e:
                log.error("writing %s failed: %s", message.msgid, e)
                results.append(e)
        for tmp, new in written:
            os.rename(tmp, new)
        for new_dir in {os.path.dirname(new) for _, new in written}:
            fsync_dir(new_dir)
        if records:
            self._append_dedup([(msgid, rcpt) for _, msgid, rcpt in records])
            self._delivered.update(key for key, _, _ in records)
        return results

    def _append_dedup(self, pairs):
        path = os.path.join(self.root, DEDUP_FILE)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            data = b"".join(json.dumps([m, r]).encode() + b"\n" for m, r in pairs)
            os.write(fd, data)
            os.fsync(fd)
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
