"""The relay's durable queue: one file per message, directly in DIR.

A queue file is::

    maillab-queue 1\\n
    {"id": ..., "msgid": ..., "sender": ..., "recipients": [...],
     "next_hop": ..., "arrived": ..., "attempts": ..., "next_attempt": ...,
     "last_error": ..., "first_failure": ..., "body": ..., "size": N, "crc32": C}\\n
    <N bytes of message data>
    \\n.end maillab-queue\\n

It is written under a temporary name (``.ID.tmp``), fsynced, renamed to
``ID.q`` and the directory fsynced before ``enqueue`` returns; metadata
updates rewrite the whole file the same way, so a crash leaves the old file
or the new one, whole. A file without its end marker, or whose data does not
match its size and checksum, is moved to DIR/corrupt/ and never delivered.
"""
import json
import logging
import os
import secrets
import time
import zlib
from dataclasses import dataclass, field
from typing import List, Optional

from zope.interface import implementer

from servers.common.durable import fsync_dir, make_dirs, write_atomic, write_files_synced
from servers.relay.interfaces import IQueueStore
from servers.smtpd.received import find_message_id, header_block

log = logging.getLogger(__name__)

MAGIC = b"maillab-queue 1\n"
END_MARKER = b"\n.end maillab-queue\n"
SUFFIX = ".q"
CORRUPT_DIR = "corrupt"
STALE_TEMPORARY_AGE = 300     # seconds; no write takes this long


class CorruptQueueFile(ValueError):
    pass


@dataclass
class QueueEntry:
    id: str
    msgid: str
    sender: str
    recipients: List[str]
    next_hop: str
    arrived: float
    attempts: int = 0
    next_attempt: float = 0.0
    last_error: str = ""
    first_failure: Optional[float] = None
    body: str = ""            # the BODY= it was received with ("8BITMIME"), "" if none
    path: str = field(default="", repr=False, compare=False)

    def data(self):
        """The full message (LF line endings, the relay's Received: first)."""
        with open(self.path, "rb") as f:
            return parse(f.read())[1]

    def open_data(self):
        """The message as a QueuedData, read a chunk at a time (for delivery:
        a 10 MB message costs no 10 MB of memory); checked whole first."""
        return QueuedData.open(self.path)

    def metadata(self):
        return {"id": self.id, "msgid": self.msgid, "sender": self.sender,
                "recipients": list(self.recipients), "next_hop": self.next_hop,
                "arrived": self.arrived, "attempts": self.attempts,
                "next_attempt": self.next_attempt, "last_error": self.last_error,
                "first_failure": self.first_failure, "body": self.body}


def serialize(entry, data):
    """The queue file's bytes; for a spooled message (``chunks()``, ``crc32``), the
    list of its parts, which ``write_files_synced`` writes in order."""
    spooled = not isinstance(data, (bytes, bytearray))
    meta = dict(entry.metadata(), size=len(data),
                crc32=data.crc32 if spooled else zlib.crc32(data))
    head = MAGIC + json.dumps(meta, sort_keys=True).encode("utf-8") + b"\n"
    return [head, data, END_MARKER] if spooled else head + data + END_MARKER


def parse(raw):
    """(metadata dict, data bytes) from a queue file's bytes, or CorruptQueueFile."""
    if not raw.startswith(MAGIC):
        raise CorruptQueueFile("no queue-file header")
    if not raw.endswith(END_MARKER):
        raise CorruptQueueFile("no end marker (truncated?)")
    head_end = raw.find(b"\n", len(MAGIC))
    if head_end < 0:
        raise CorruptQueueFile("no metadata line")
    try:
        meta = json.loads(raw[len(MAGIC):head_end])
    except ValueError as e:
        raise CorruptQueueFile("bad metadata: %s" % e)
    data = raw[head_end + 1:len(raw) - len(END_MARKER)]
    if not isinstance(meta, dict) or len(data) != meta.get("size") \
            or zlib.crc32(data) != meta.get("crc32"):
        raise CorruptQueueFile("data does not match its size and checksum")
    return meta, data


class QueuedData:
    """A queue file's data, from its open file: ``len()``, ``chunks()``, and what
    the SMTP client needs before sending (``crlf_size``: RFC 1870's SIZE,
    ``eight_bit``). ``open`` reads the file once to check what ``parse``
    checks (header, size, end marker, CRC-32), so a corrupt file is never
    sent; the open file keeps the data even if the entry is rewritten."""

    CHUNK = 256 * 1024

    def __init__(self, file, offset, size):
        self.file, self.offset, self.size = file, offset, size
        self.crlf_size = size
        self.eight_bit = False

    @classmethod
    def open(cls, path):
        f = open(path, "rb")
        try:
            data = cls._checked(f)
        except BaseException:
            f.close()
            raise
        return data

    @classmethod
    def _checked(cls, f):
        if f.read(len(MAGIC)) != MAGIC:
            raise CorruptQueueFile("no queue-file header")
        line = f.readline(1 << 20)
        try:
            meta = json.loads(line)
        except ValueError as e:
            raise CorruptQueueFile("bad metadata: %s" % e)
        size = meta.get("size") if isinstance(meta, dict) else None
        if not isinstance(size, int) or size < 0:
            raise CorruptQueueFile("data does not match its size and checksum")
        data = cls(f, f.tell(), size)
        if os.fstat(f.fileno()).st_size != data.offset + size + len(END_MARKER) or \
                os.pread(f.fileno(), len(END_MARKER), data.offset + size) != END_MARKER:
            raise CorruptQueueFile("no end marker (truncated?)")
        crc, lf, crlf, last = 0, 0, 0, b""
        for chunk in data.chunks():
            crc = zlib.crc32(chunk, crc)
            lf += chunk.count(b"\n")
            crlf += chunk.count(b"\r\n") + (last == b"\r" and chunk[:1] == b"\n")
            data.eight_bit = data.eight_bit or not chunk.isascii()
            last = chunk[-1:]
        if crc != meta.get("crc32"):
            raise CorruptQueueFile("data does not match its size and checksum")
        ends = os.pread(f.fileno(), 1, data.offset + size - 1) if size else b""
        data.crlf_size = size + (lf - crlf) + (0 if ends.endswith(b"\n") else 2)
        return data

    def __len__(self):
        return self.size

    def chunks(self):
        done = 0
        while done < self.size:
            chunk = os.pread(self.file.fileno(), min(self.CHUNK, self.size - done),
                             self.offset + done)
            if not chunk:
                raise CorruptQueueFile("queue file shorter than its size")
            done += len(chunk)
            yield chunk

    def close(self):
        self.file.close()


def message_id_of(data):
    """The Message-ID header value of stored data ("" if none)."""
    if getattr(data, "msgid", None) is not None:     # a spooled message read it as it came
        return data.msgid
    if hasattr(data, "chunks"):                       # streamed: the headers are in its head
        data = next(data.chunks(), b"")
    lines = data.split(b"\n\n", 1)[0].split(b"\n")
    return find_message_id(lines[:header_block(lines)]) or ""


def message_files(directory):
    """Paths of the queued messages' files in ``directory``, sorted by name
    (temporaries are dot-files; ``corrupt/`` and the pid file are not messages)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return [os.path.join(directory, n) for n in sorted(names)
            if n.endswith(SUFFIX) and not n.startswith(".")]


@implementer(IQueueStore)
class Queue:
    def __init__(self, directory, events=None, now=time.time):
        self.directory = os.path.abspath(directory)
        self.events = events
        self.now = now
        make_dirs(self.directory)
        self._remove_stale_temporaries()

    def _path(self, entry_id):
        return os.path.join(self.directory, entry_id + SUFFIX)

    def _tmp_path(self, entry_id):
        return os.path.join(self.directory, "." + entry_id + ".tmp")

    def _remove_stale_temporaries(self):
        """Old temporaries are what a crash left mid-write (never acknowledged).
        Recent ones may belong to a relay still running while another process
        (``--list``) opens the same queue: leave those alone."""
        for name in os.listdir(self.directory):
            if not (name.startswith(".") and name.endswith(".tmp")):
                continue
            path = os.path.join(self.directory, name)
            try:
                if self.now() - os.stat(path).st_mtime < STALE_TEMPORARY_AGE:
                    continue
                os.unlink(path)
            except FileNotFoundError:
                continue
            log.info("removed %s, left by a crash mid-write", name)

    def _new_id(self):
        return "%016x-%s" % (time.time_ns(), secrets.token_hex(4))

    def enqueue(self, sender, recipients, data, next_hop, body=""):
        """Store one message durably (blocking) and return its entry."""
        return self.enqueue_many([(sender, recipients, data, next_hop, body)])[0]

    def enqueue_many(self, items):
        """Store several ``(sender, recipients, data, next_hop[, body])`` durably
        with one directory fsync; blocking. Returns their entries, in order."""
        now = self.now()
        entries = []
        for item in items:
            sender, recipients, data, next_hop = item[:4]
            body = item[4] if len(item) > 4 else ""
            entry = QueueEntry(id=self._new_id(), msgid=message_id_of(data),
                               sender=sender, recipients=list(recipients),
                               next_hop=next_hop, arrived=now, next_attempt=now, body=body)
            entry.path = self._path(entry.id)
            entries.append((entry, data))
        write_files_synced([(self._tmp_path(e.id), serialize(e, data)) for e, data in entries])
        entries = [e for e, _ in entries]
        for entry in entries:
            os.rename(self._tmp_path(entry.id), entry.path)
        fsync_dir(self.directory)
        return entries

    def entries(self):
        """Every valid entry, oldest first; corrupt files are set aside."""
        found = []
        for path in message_files(self.directory):
            name = os.path.basename(path)
            try:
                with open(path, "rb") as f:
                    meta, _ = parse(f.read())
                entry = QueueEntry(body=meta.get("body", ""), **{k: meta[k] for k in (
                    "id", "msgid", "sender", "recipients", "next_hop", "arrived",
                    "attempts", "next_attempt", "last_error", "first_failure")})
            except FileNotFoundError:
                continue              # removed while we listed
            except (CorruptQueueFile, KeyError, TypeError) as e:
                self._set_aside(name, str(e))
                continue
            entry.path = path
            found.append(entry)
        found.sort(key=lambda e: (e.arrived, e.id))
        return found

    def set_aside(self, entry, why):
        """Move ``entry``'s file to corrupt/, never to be delivered; False if it is gone."""
        name = os.path.basename(entry.path)
        try:
            self._set_aside(name, why)
        except FileNotFoundError:
            log.error("queue file %s is gone (%s)", name, why)
            if self.events is not None:
                self.events.emit("corrupt", msgid=entry.msgid, file=name,
                                 error="%s; the file is gone" % why)
            return False
        return True

    def _set_aside(self, name, why):
        corrupt = os.path.join(self.directory, CORRUPT_DIR)
        os.makedirs(corrupt, exist_ok=True)
        os.replace(os.path.join(self.directory, name), os.path.join(corrupt, name))
        fsync_dir(corrupt)
        fsync_dir(self.directory)
        log.error("queue file %s is corrupt (%s): moved to %s/", name, why, corrupt)
        if self.events is not None:
            self.events.emit("corrupt", file=name, error=why)

    def save(self, entry):
        """Rewrite the entry's metadata on disk, atomically and durably."""
        with open(entry.path, "rb") as f:
            _, data = parse(f.read())
        tmp = self._tmp_path(entry.id)
        try:
            os.unlink(tmp)        # a rewrite of this entry cut short by a crash
        except FileNotFoundError:
            pass
        write_atomic(entry.path, serialize(entry, data), tmp_path=tmp)

    def reroute(self, entry, new_next_hop):
        """Point the stored message at another server; returns the old next hop."""
        old = entry.next_hop
        entry.next_hop = new_next_hop
        try:
            self.save(entry)
        except BaseException:
            entry.next_hop = old
            raise
        log.info("rerouted %s %s: %s -> %s", entry.id, entry.msgid, old, new_next_hop)
        if self.events is not None:
            self.events.emit("rerouted", msgid=entry.msgid, id=entry.id,
                             old=old, new=new_next_hop)
        return old

    def remove(self, entry):
        """Forget a delivered (or bounced) message, durably."""
        try:
            os.unlink(entry.path)
        except FileNotFoundError:
            return
        fsync_dir(self.directory)
