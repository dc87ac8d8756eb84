"""Maildir delivery, durable, and at most once per true redelivery.

Layout: ROOT/<localpart@domain>/{tmp,new,cur}. A message is written in
tmp/, fsynced, renamed into new/, and new/ is fsynced; only then is it
delivered. Several messages are written as one batch so that a directory
and the dedup file are fsynced once per batch, not once per message.

Dedup drops only a redelivery of the same message: the same Message-ID
*and* the same content, where content is the message without its leading
trace headers (Received:, Return-Path:), which every hop adds anew. A relay
that resends after a lost 250 sends the same bytes (its queue file), and a
message that came without a Message-ID got one from the first server that
received it, so a redelivery matches; another message that reuses a
Message-ID differs in content and is stored.

The record of deliveries, ``(delivery id, recipient)``, is an LRU of
DEDUP_LIMIT entries, enough for a redelivery that comes days later at lab
rates. ROOT/.delivered keeps it across restarts: an append-only file of JSON
lines ``["<delivery id>", "rcpt"]``, fsynced with each batch after the
messages, rewritten with the most recent entries once it holds twice the
limit. A crash between the Maildir rename and that append would forget a
delivery, so each file name also carries the delivery id (``,I=...``), and
the names in new/ and cur/ are read back at start as well.

The record lives with the Maildirs: a server re-created on a fresh disk has
lost the messages and the record together, so a redelivery there is stored
(it is then the only copy that server holds); a re-created server given the
old disk keeps both.
"""
import collections
import hashlib
import itertools
import json
import logging
import os
import re
import time

from servers.common.durable import (fsync_dir, fsync_dirs, make_dirs, write_atomic,
                                    write_files_synced)

log = logging.getLogger(__name__)

DEDUP_FILE = ".delivered"
DEDUP_LIMIT = 100_000     # entries; .delivered stays under 10 MB (2 x 100,000 lines of ~41 bytes)
_NAME_HASH = re.compile(r",I=([0-9a-f]{16})")
_TRACE_HEADER = re.compile(rb"^(received|return-path):", re.IGNORECASE)
_counter = itertools.count(1)


def without_trace_headers(data):
    """``data`` (LF line endings) without the trace header fields at its top."""
    lines = data.split(b"\n")
    i = 0
    while i < len(lines) and _TRACE_HEADER.match(lines[i]):
        i += 1
        while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
            i += 1
    return b"\n".join(lines[i:])


def delivery_id(msgid, data):
    """What identifies one message across redeliveries: its Message-ID and content.
    ``data`` is bytes, or a spooled message that hashed its content as it came."""
    content = getattr(data, "content_sha256", None) or hashlib.sha256(
        without_trace_headers(data)).digest()
    return hashlib.sha256(msgid.encode("utf-8", "replace") + b"\0" + content).hexdigest()[:16]


def _safe_host(hostname):
    return hostname.replace("/", "\\057").replace(":", "\\072").replace(",", "\\054")


class Maildirs:
    """All the recipients' Maildirs under one root, with the dedup record."""

    def __init__(self, root, hostname="localhost", now=time.time, dedup_limit=DEDUP_LIMIT):
        self.root = os.path.abspath(root)
        self.hostname = _safe_host(hostname)
        self.now = now
        self.dedup_limit = dedup_limit
        make_dirs(self.root)
        self._delivered = collections.OrderedDict()     # (delivery id, rcpt), oldest first
        self._appended = 0          # lines in the dedup file
        self._torn_tail = False
        self._known_dirs = set()
        self._load_dedup()

    # -- dedup

    def _remember(self, key):
        self._delivered[key] = True
        self._delivered.move_to_end(key)
        while len(self._delivered) > self.dedup_limit:
            self._delivered.popitem(last=False)

    def _load_dedup(self):
        named, listed = [], []
        for rcpt in os.listdir(self.root):
            for sub in ("new", "cur"):
                try:
                    names = os.listdir(os.path.join(self.root, rcpt, sub))
                except (NotADirectoryError, FileNotFoundError):
                    continue
                listed += [os.path.join(self.root, rcpt, sub), os.path.join(self.root, rcpt)]
                named.extend((name, rcpt) for name in names if _NAME_HASH.search(name))
        # A run killed between a rename into new/ and the fsync of new/ leaves
        # a name that is not durable yet; make it so before trusting it, or a
        # redelivery would get a 250 for a message a power loss then takes.
        fsync_dirs(sorted(set(listed)) + [self.root])
        # The dedup file's name is durable now, if there is one; a new one's
        # is made so by the first append (_append_dedup).
        self._dedup_file_named = os.path.exists(os.path.join(self.root, DEDUP_FILE))
        for name, rcpt in sorted(named):      # names begin with the delivery time
            self._remember((_NAME_HASH.search(name).group(1), rcpt))
        path = os.path.join(self.root, DEDUP_FILE)
        try:
            with open(path, "rb") as f:
                for line in f:
                    self._appended += 1
                    try:
                        ident, rcpt = json.loads(line)
                    except (ValueError, TypeError):
                        continue      # a torn last line after a crash
                    self._remember((ident, rcpt))
                # After a torn last line, start the next record on a line of its own.
                self._torn_tail = not line.endswith(b"\n") if f.tell() else False
        except FileNotFoundError:
            pass

    def already_delivered(self, ident, rcpt):
        """True if the message with delivery id ``ident`` went to ``rcpt``."""
        return (ident, rcpt) in self._delivered

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

    def _file_name(self, ident):
        now = self.now()
        return "%d.M%dP%dQ%d.%s,I=%s" % (
            int(now), int((now % 1) * 1e6), os.getpid(), next(_counter), self.hostname, ident)

    def deliver_batch(self, messages):
        """Deliver each message (with ``msgid``, ``recipients``, and ``data``
        bytes or a ``spool``) to each of its recipients' Maildirs, the spool
        copied a chunk at a time. Blocking: run it in a thread.

        Returns, per message, ``{rcpt: path in new/, or None for a duplicate
        not written again}``. Raises if the batch could not be made durable.
        """
        results = []
        planned = []              # (dedup key, tmp path, new path, data)
        keys = set()
        for message in messages:
            outcome = {}
            data = getattr(message, "spool", None) or message.data
            ident = delivery_id(message.msgid, data)
            for rcpt in message.recipients:
                key = (ident, rcpt)
                if key in self._delivered:
                    self._remember(key)     # a redelivery keeps its entry recent
                if key in self._delivered or key in keys:
                    outcome[rcpt] = None
                    continue
                keys.add(key)
                self._ensure_maildir(rcpt)
                name = self._file_name(ident)
                box = self.mailbox(rcpt)
                planned.append((key, os.path.join(box, "tmp", name),
                                os.path.join(box, "new", name), data))
                outcome[rcpt] = planned[-1][2]
            results.append(outcome)
        if not planned:
            return results
        write_files_synced([(tmp, data) for _, tmp, _, data in planned])
        for _, tmp, new, _ in planned:
            os.rename(tmp, new)
        fsync_dirs(sorted({os.path.dirname(new) for _, _, new, _ in planned}))
        for key, _, _, _ in planned:
            self._remember(key)
        self._record_dedup([key for key, _, _, _ in planned])
        return results

    def _record_dedup(self, keys):
        if self._appended + len(keys) > 2 * self.dedup_limit:
            self._rewrite_dedup()
        else:
            self._append_dedup(keys)

    def _rewrite_dedup(self):
        """Keep only what the LRU holds, so the file stays bounded."""
        data = b"".join(json.dumps(list(key)).encode() + b"\n" for key in self._delivered)
        write_atomic(os.path.join(self.root, DEDUP_FILE), data)
        self._appended, self._torn_tail = len(self._delivered), False

    def _append_dedup(self, keys):
        path = os.path.join(self.root, DEDUP_FILE)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            data = b"".join(json.dumps(list(key)).encode() + b"\n" for key in keys)
            if self._torn_tail:
                data = b"\n" + data
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
            if not self._dedup_file_named:
                fsync_dir(self.root)
                self._dedup_file_named = True
            self._torn_tail = False
            self._appended += len(keys)
        finally:
            os.close(fd)


def messages_in(maildir):
    """Paths of the messages in one Maildir (new/ and cur/; dot-files are not messages)."""
    paths = []
    for sub in ("new", "cur"):
        d = os.path.join(maildir, sub)
        if os.path.isdir(d):
            paths.extend(os.path.join(d, n) for n in sorted(os.listdir(d))
                         if not n.startswith(".") and os.path.isfile(os.path.join(d, n)))
    return paths


def messages_under(root):
    """[(recipient, path)] of every message in every Maildir under ``root``
    (ROOT/<rcpt>/{new,cur}); the dedup file and other dot-entries are skipped."""
    found = []
    if not os.path.isdir(root):
        return found
    for rcpt in sorted(os.listdir(root)):
        if not rcpt.startswith(".") and os.path.isdir(os.path.join(root, rcpt)):
            found.extend((rcpt, path) for path in messages_in(os.path.join(root, rcpt)))
    return found
