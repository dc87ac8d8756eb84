"""What a Postfix instance still holds, read from its queue directory on disk.

A message waiting in Postfix is a file in one of its queues (maildrop,
incoming, active, deferred, hold; hashed one level deep by default); its
Message-ID comes from ``postcat -h`` on that file (read only).
"""
import os
import subprocess

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


def read_queue(queue_dir):
    """What is left: one entry per message file ({file, msgid, next_hop})."""
    return [{"file": p, "msgid": message_id(p), "next_hop": ""} for p in queue_files(queue_dir)
            if os.path.exists(p)]
