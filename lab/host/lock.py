"""One lab at a time on a machine.

Mininet names interfaces and bridges after nodes (``s1-eth1``), so two labs
at once would collide, and ``maillab clean`` must not tear down a lab that
is alive. Every lab run, lab test and clean holds this lock; it is an
flock(2), so the shell's ``flock /run/maillab.lock CMD`` takes the same one
and a crashed holder releases it with its last file descriptor.

A program that holds the lock across several maillab commands passes its
locked descriptor down and names it in ``MAILLAB_LOCK_FD``; the commands
then lock through it (the same open file, so the same lock) instead of
waiting for themselves::

    exec 9>/run/maillab.lock; flock 9
    MAILLAB_LOCK_FD=9 maillab run direct; MAILLAB_LOCK_FD=9 maillab run recreate
"""
import contextlib
import errno
import fcntl
import os
import time

LOCK_PATH = os.environ.get("MAILLAB_LOCK", "/run/maillab.lock")
LOCK_FD_ENV = "MAILLAB_LOCK_FD"
_held = {}  # path -> depth: the lock is re-entrant within one process


class LabBusy(RuntimeError):
    pass


@contextlib.contextmanager
def lab_lock(timeout=600.0, path=LOCK_PATH, poll=0.2):
    """Hold the machine's lab lock; wait up to ``timeout`` seconds for it.

    Re-entrant: a process that holds it (a test fixture) can enter it again
    (the network it builds)."""
    if _held.get(path):
        _held[path] += 1
        try:
            yield
        finally:
            _held[path] -= 1
        return
    inherited = _inherited_fd(path)
    fd = inherited if inherited is not None else os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    raise LabBusy("another maillab lab is running on this machine "
                                  "(lock %s held)" % path) from None
                time.sleep(poll)  # polling a lock, not waiting for readiness
        if inherited is None:
            os.ftruncate(fd, 0)
            os.write(fd, b"%d\n" % os.getpid())
        _held[path] = 1
        try:
            yield
        finally:
            _held.pop(path, None)
    finally:
        if inherited is None:
            os.close(fd)


def _inherited_fd(path):
    """The descriptor ``MAILLAB_LOCK_FD`` names, if it is open on the lock file."""
    try:
        fd = int(os.environ.get(LOCK_FD_ENV, ""))
        mine, lock = os.fstat(fd), os.stat(path)
    except (ValueError, OSError):
        return None
    return fd if (mine.st_dev, mine.st_ino) == (lock.st_dev, lock.st_ino) else None
