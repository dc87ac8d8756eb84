"""The relay's durable queue: one file per message, directly in DIR.

A queue file is::

    maillab-queue 1\\n
    {"id": ..., "msgid": ..., "sender": ..., "recipients": [...],
     "next_hop": ..., "arrived": ..., "attempts": ..., "next_attempt": ...,
     "last_error": ..., "first_failure": ..., "body": ..., "size": N, "crc32": C}\\n
    <N bytes of message data>
    \\n.end maillab-queue\\n

It is written under a temporary name (``.ID.tmp``), fsynced, renamed to
``ID.q`` and the directory fsynced before ``enqueue`` returns; a new next
hop (``reroute``) rewrites the whole file the same way, so a crash leaves the
old file or the new one, whole. A file without its end marker, or whose data
does not match its size and checksum, is moved to DIR/corrupt/ and never
delivered.

A delivered message's file is not unlinked but moved to DIR/recycle/ (up to
``RECYCLE_MAX`` files there, of up to ``RECYCLE_FILE_MAX`` bytes each), and a new message takes one from there (a
rename, so two processes never take the same) and overwrites it: on a file
system that scans for a free inode at each new file (ext4 without a
journal skips every inode freed in the last 30 s, one by one), a file per
message made and unlinked at hundreds a second costs more CPU than the rest
of the write.  The order of a write does not change: the file under its
temporary name, fsynced, renamed, the directory fsynced.  A file in
recycle/ is no message; one left as a temporary by a crash is removed like
any other.

The retry state of a deferred message (attempts, next attempt, last error,
first failure) is not rewritten into its file at each failed attempt: that
would cost a file rewrite and two fsyncs per held message per retry, which a
large backlog cannot afford.  It is appended to DIR/retries.log instead, one
tab-separated line per deferral (``retry_line``), a batch of deferrals per write and fsync
(``record_retries``).  ``entries`` applies the log's latest line for each
message over its file (the one with more attempts wins: attempts only grow);
a torn last line is skipped.  ``compact_retries`` rewrites the log with only
the queued messages' state (at start, and when it has grown).  The log is
soft state: were it lost, a message would only be tried again sooner.
"""
import json
import logging
import os
import secrets
import sys
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
RECYCLE_DIR = "recycle"
RECYCLE_MAX = 256             # delivered messages' files kept to be overwritten
RECYCLE_FILE_MAX = 64 * 1024  # bytes: a larger file is unlinked (the disk it holds)
RETRIES = "retries.log"
RETRY_FIELDS = ("attempts", "next_attempt", "last_error", "first_failure")
STALE_TEMPORARY_AGE = 300     # seconds; no write takes this long


class CorruptQueueFile(ValueError):
    pass


@dataclass(slots=True)
class QueueEntry:
    """What the relay keeps in memory of a held message: its metadata only
    (the data stays in the file, read at each delivery attempt)."""
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
        return parse(read_file(self.path))[1]

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


def retry_line(entry):
    """One line of the retry log: id, attempts, next attempt, first failure
    ("-" if none) and last error, tab-separated (cheap to read back: a restart
    with a large backlog reads one line per deferral since the last compaction)."""
    error = entry.last_error.replace("\t", " ").replace("\n", " ").replace("\r", " ")
    return ("%s\t%d\t%r\t%s\t%s\n" % (
        entry.id, entry.attempts, float(entry.next_attempt),
        "-" if entry.first_failure is None else repr(float(entry.first_failure)),
        error)).encode("utf-8")


def read_file(path):
    """A queue file's bytes (plain reads: no buffered file object per file)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 16)
            chunks.append(chunk)
            if len(chunk) < 1 << 16:      # a short read of a regular file: its end
                return b"".join(chunks)
    finally:
        os.close(fd)


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
        self.retry_log_bytes = 0      # appended since the last compaction
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
        files = [(self._tmp_path(e.id), serialize(e, data)) for e, data in entries]
        recycled = self._take_recycled([path for path, _ in files])
        if recycled:
            write_files_synced(files, overwrite=recycled)
        else:
            write_files_synced(files)
        entries = [e for e, _ in entries]
        for entry in entries:
            os.rename(self._tmp_path(entry.id), entry.path)
        fsync_dir(self.directory)
        return entries

    def _take_recycled(self, paths):
        """Move recycled files to as many of ``paths`` as there are; the set of
        those that got one."""
        recycle = os.path.join(self.directory, RECYCLE_DIR)
        try:
            names = os.listdir(recycle)
        except FileNotFoundError:
            return set()
        taken, names = set(), iter(names)
        for path in paths:
            for name in names:
                try:
                    os.rename(os.path.join(recycle, name), path)
                except FileNotFoundError:      # another process took it
                    continue
                taken.add(path)
                break
            else:
                break
        return taken

    def entries(self):
        """Every valid entry, oldest first, with its latest retry state;
        corrupt files are set aside."""
        retries = self.read_retries()
        found = []
        intern = sys.intern         # the same next hops and senders, held once
        for path in message_files(self.directory):
            try:
                meta, _ = parse(read_file(path))
                entry = QueueEntry(meta["id"], meta["msgid"], intern(meta["sender"]),
                                   meta["recipients"], intern(meta["next_hop"]),
                                   meta["arrived"], meta["attempts"], meta["next_attempt"],
                                   intern(meta["last_error"]), meta["first_failure"],
                                   meta.get("body", ""), path)
            except FileNotFoundError:
                continue              # removed while we listed
            except (CorruptQueueFile, KeyError, TypeError) as e:
                self._set_aside(os.path.basename(path), str(e))
                continue
            state = retries.get(entry.id)
            if state is not None and state[0] >= entry.attempts:
                entry.attempts, entry.next_attempt, entry.last_error, entry.first_failure = state
            found.append(entry)
        found.sort(key=lambda e: (e.arrived, e.id))
        return found

    # -- the retry log ------------------------------------------------------
    def _retries_path(self):
        return os.path.join(self.directory, RETRIES)

    def read_retries(self):
        """{id: (attempts, next_attempt, last_error, first_failure)}, the latest
        line for each message; an unreadable line (a torn write) is skipped."""
        state = {}
        intern = sys.intern
        try:
            with open(self._retries_path(), "rb") as f:
                for line in f:
                    fields = line.split(b"\t", 4)
                    if len(fields) != 5 or not line.endswith(b"\n"):
                        continue
                    try:
                        state[fields[0].decode("ascii")] = (
                            int(fields[1]), float(fields[2]),
                            intern(fields[4][:-1].decode("utf-8", "replace")),
                            None if fields[3] == b"-" else float(fields[3]))
                    except ValueError:
                        continue
        except FileNotFoundError:
            pass
        return state

    def record_retries(self, entries):
        """Append the retry state of ``entries`` to the log, one write and one
        fsync for all (blocking)."""
        lines = b"".join(retry_line(e) for e in entries)
        path = self._retries_path()
        created = not os.path.exists(path)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            view = memoryview(lines)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            fsync_dir(self.directory)
        self.retry_log_bytes += len(lines)

    def compact_retries(self, entries):
        """Rewrite the log with the state of ``entries`` (the queued ones) only."""
        lines = b"".join(retry_line(e) for e in entries if e.attempts)
        self.retry_log_bytes = len(lines)
        if not lines:                 # nothing to remember: no log (and nothing written)
            try:
                os.unlink(self._retries_path())
            except FileNotFoundError:
                return
            fsync_dir(self.directory)
            return
        write_atomic(self._retries_path(), lines,
                      tmp_path=os.path.join(self.directory, ".retries.tmp"))

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
        """Rewrite the entry's file with its metadata, atomically and durably."""
        with open(entry.path, "rb") as f:
            _, data = parse(f.read())
        tmp = self._tmp_path(entry.id)
        try:
            os.unlink(tmp)        # a rewrite of this entry cut short by a crash
        except FileNotFoundError:
            pass
        write_atomic(entry.path, serialize(entry, data), tmp_path=tmp)

    def reroute(self, entry, new_next_hop):
        """Point the stored message at another server; returns the old next hop.
        A reroute to where it already points (two asked for it, one after the
        other) does nothing."""
        old = entry.next_hop
        if old == new_next_hop:
            return old
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
        self.remove_many([entry])

    def remove_many(self, entries):
        """Forget several delivered messages with one directory fsync."""
        recycle = os.path.join(self.directory, RECYCLE_DIR)
        try:
            room = RECYCLE_MAX - len(os.listdir(recycle))
        except FileNotFoundError:
            os.mkdir(recycle)
            room = RECYCLE_MAX
        removed = 0
        for entry in entries:
            try:
                if room > 0 and os.stat(entry.path).st_size <= RECYCLE_FILE_MAX:
                    os.rename(entry.path, os.path.join(recycle, entry.id))
                    room -= 1
                else:
                    os.unlink(entry.path)
                removed += 1
            except FileNotFoundError:
                pass
        if removed:
            fsync_dir(self.directory)
