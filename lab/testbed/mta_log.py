"""A real MTA's log, stamped as it is written.

Postfix writes its ``maillog_file`` with whole-second times; the verdict
matches log lines with packets on the wire to a few tenths of a second. So the
log file is a FIFO that this reader drains as the MTA writes it, keeping each
line with the time it arrived, one JSON object per line
(``{"ts": 1796545028.3927, "line": "Dec 06 08:17:08 relay1 postfix/..."}``):
the MTA's words, the lab's clock (lab.evidence.postfix_log reads them).
"""
import json
import os
import select
import threading
import time

from lab.evidence.postfix_log import STAMPED_SUFFIX


class StampedLog:
    """Create the FIFO ``fifo_path`` and copy every line written to it into
    ``fifo_path + STAMPED_SUFFIX`` with its arrival time, until ``stop()``."""

    def __init__(self, fifo_path, clock=time.time):
        self.fifo_path = fifo_path
        self.out_path = fifo_path + STAMPED_SUFFIX
        self.clock = clock
        if not os.path.exists(fifo_path):     # a restarted MTA writes the same FIFO
            os.mkfifo(fifo_path, 0o600)
        # read-write: the reader never sees an end of file when a writer closes
        self._fd = os.open(fifo_path, os.O_RDWR | os.O_NONBLOCK)
        self._out = open(self.out_path, "a", encoding="utf-8")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stamped-log", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def _run(self):
        pending = b""
        while True:
            ready, _, _ = select.select([self._fd], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(self._fd, 65536)
                except BlockingIOError:
                    chunk = b""
                now = self.clock()
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    self._out.write(json.dumps({"ts": now, "line": line.decode(
                        "utf-8", "replace")}) + "\n")
                self._out.flush()
            elif self._stop.is_set():
                return

    def stop(self):
        """Drain what is written, then close (after the MTA has stopped)."""
        self._stop.set()
        self._thread.join(timeout=5)
        os.close(self._fd)
        self._out.close()
