"""What a Postfix instance still holds, read from its queue directory on disk.

A message waiting in Postfix is a file in one of its queues (maildrop,
incoming, active, deferred, hold; hashed one level deep by default); its
Message-ID comes from ``postcat -h`` on that file (read only).
"""
import os
import subprocess
import time

QUEUES = ("maildrop", "incoming", "active", "deferred", "hold")


def queue_files(queue_dir):
    """Every message file under the queues of ``queue_dir``, sorted."""
    found = []
    for queue in QUEUES:
        for root, _, names in os.walk(os.path.join(queue_dir, queue)):
            found += [os.path.join(root, n) for n in names]
    return sorted(found)


def message_id(path):
    """The Message-ID header of a Postfix queue file, or "" (unreadable, gone)."""
    try:
        out = subprocess.run(["postcat", "-h", path], capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""
    for line in out.splitlines():
        if line[:11].lower() == "message-id:":
            return line.split(":", 1)[1].strip()
    return ""


def where(queue_dir, path, now):
    """Which queue a message file is in ("deferred", "active", ...) and, in the
    deferred queue, in how many seconds from ``now`` Postfix will next try it: the
    file's mtime, which Postfix sets to the time of the next attempt (None
    elsewhere, or when the file is gone)."""
    queue = os.path.relpath(path, queue_dir).split(os.sep)[0]
    try:
        mtime = os.stat(path).st_mtime
    except OSError:
        return queue, None
    return queue, round(mtime - now, 1) if queue == "deferred" else None


def read_queue(queue_dir, clock=time.time):
    """What is left: one entry per message file ({file, msgid, next_hop, queue,
    next_try_in})."""
    out, now = [], clock()
    for p in queue_files(queue_dir):
        if os.path.exists(p):
            queue, next_try_in = where(queue_dir, p, now)
            out.append({"file": p, "msgid": message_id(p), "next_hop": "", "queue": queue,
                        "next_try_in": next_try_in})
    return out
