"""A message's DATA written to a temporary file as it arrives.

The receive protocol hands each data line here (dot-unstuffed, checked for
length and size) and keeps none of them, so a session costs the same memory
whatever the message's size. What is written is the data as stored: LF line
endings, our ``Received:`` header first, and a ``Message-ID:`` header at the
end of the header section when the client sent none (a Message-ID folded
over several lines is unfolded to read it, as ``find_message_id`` does).

On the way it counts the size and computes the CRC-32 of the whole (the
relay's queue file records both) and the SHA-256 of the content without its
leading trace headers (the messaging server's delivery id, see
``servers.mx.maildir.delivery_id``), so nothing has to read the data again
but the copy into its durable place.

The first ``MEMORY_MAX`` bytes are held in memory: most messages are
small, and creating and dropping an unnamed file costs each of them two
journalled changes to the spool directory, waiting behind the fsyncs of the
messages being stored there.  A message that grows past that moves to an
unnamed file (``tempfile.TemporaryFile``): it vanishes when closed, or when
the process dies, so a crash leaves nothing to clean up.  Either way a
session holds at most ``MEMORY_MAX`` bytes of its message.
"""
import io
import hashlib
import os
import re
import tempfile
import zlib

from servers.smtpd.received import new_message_id

_HEADER_LINE = re.compile(rb"^[\x21-\x39\x3b-\x7e]+:")
_TRACE_HEADER = re.compile(rb"^(received|return-path):", re.IGNORECASE)
MESSAGE_ID_MAX = 4096          # octets of a folded Message-ID value kept to read it
CHUNK = 256 * 1024
MEMORY_MAX = 64 * 1024         # bytes of a message held in memory before it goes to a file

FIRST, HEADERS, BODY = "first", "headers", "body"


class SpooledData:
    """The data of one message, in a temporary file; ``msgid``, ``size``,
    ``crc32`` and ``content_sha256`` are known once ``finish()`` returned."""

    def __init__(self, received_header, hostname, when, directory=None):
        self.directory = directory
        self.file = io.BytesIO()       # a temporary file once it outgrows MEMORY_MAX
        self.in_memory = True
        self.hostname, self.when = hostname, when
        self.size = 0
        self.crc32 = 0
        self._content = hashlib.sha256()
        self._in_trace = True          # still among the leading trace headers
        self._state = FIRST
        self._found = False            # a Message-ID header was seen
        self._value = None             # the Message-ID value being read (it may be folded)
        self.msgid = None
        for line in received_header.split(b"\n"):
            self._emit(line)

    # -- writing

    def _emit(self, line):
        data = line + b"\n"
        self.file.write(data)
        self.size += len(data)
        if self.in_memory and self.size > MEMORY_MAX:
            self._to_file()
        self.crc32 = zlib.crc32(data, self.crc32)
        if self._in_trace and (_TRACE_HEADER.match(line) or line[:1] in (b" ", b"\t")):
            return
        self._in_trace = False
        self._content.update(data)

    def _end_of_headers(self, blank_line):
        self._close_value()
        if self.msgid is None:
            self.msgid = new_message_id(self.hostname, now=lambda: self.when)
            self._emit(b"Message-ID: " + self.msgid.encode("ascii"))
        if blank_line:
            self._emit(b"")
        self._state = BODY

    def _close_value(self):
        if self._value is not None:
            self.msgid = self._value.strip().decode("ascii", "replace") or None
            self._value = None

    def line(self, line):
        """One data line: dot-unstuffed, without its line ending."""
        if self._state == FIRST:
            if not _HEADER_LINE.match(line):
                self._end_of_headers(blank_line=True)      # no header section at all
                self._emit(line)
                return
            self._state = HEADERS
        if self._state == HEADERS:
            if self._value is not None and line[:1] in (b" ", b"\t"):
                self._value = (self._value + line)[:MESSAGE_ID_MAX]
            elif line == b"" or not (_HEADER_LINE.match(line) or line[:1] in (b" ", b"\t")):
                self._end_of_headers(blank_line=False)
            else:
                self._close_value()
                if not self._found and line[:11].lower() == b"message-id:":
                    self._found, self._value = True, line[11:][:MESSAGE_ID_MAX]
        self._emit(line)

    def lines(self, text):
        """Several data lines at once: each dot-unstuffed and ended by LF, none
        holding a CR or another LF; what ``line`` does to each of them."""
        start = 0
        while self._state != BODY and start < len(text):
            end = text.index(b"\n", start)
            self.line(text[start:end])
            start = end + 1
        if start < len(text):
            self._emit_block(text[start:] if start else text)

    def _emit_block(self, data):
        """Whole lines of the body, LF-terminated (``_emit`` for each)."""
        if self._in_trace:          # never in the body; kept exact all the same
            for line in data[:-1].split(b"\n"):
                self._emit(line)
            return
        if self.in_memory and self.size + len(data) > MEMORY_MAX:
            self._to_file()
        self.file.write(data)
        self.size += len(data)
        self.crc32 = zlib.crc32(data, self.crc32)
        self._content.update(data)

    def finish(self):
        """The last line came: the headers end here if they had not."""
        if self._state != BODY:
            self._end_of_headers(blank_line=self._state == FIRST)
        self.file.flush()
        self.content_sha256 = self._content.digest()
        return self

    def _to_file(self):
        held = self.file
        self.file = tempfile.TemporaryFile(dir=self.directory, prefix=".spool-")
        self.file.write(held.getbuffer())
        self.in_memory = False
        held.close()

    # -- reading (any thread; position-independent)

    def __len__(self):
        return self.size

    def _read(self, offset, size):
        if self.in_memory:
            return self.file.getbuffer()[offset:offset + size].tobytes()
        return os.pread(self.file.fileno(), size, offset)

    def chunks(self):
        """The data, CHUNK bytes at a time."""
        offset = 0
        while offset < self.size:
            chunk = self._read(offset, min(CHUNK, self.size - offset))
            if not chunk:
                raise OSError("spool file shorter than written")
            offset += len(chunk)
            yield chunk

    def read_all(self):
        return b"".join(self.chunks())

    def head(self, limit=64 * 1024):
        """The first ``limit`` bytes (enough to read headers from)."""
        return self._read(0, min(limit, self.size))

    def close(self):
        self.file.close()
