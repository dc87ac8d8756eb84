"""Durable writes: a file is on disk, whole, before anyone is told so.

The order is the one Postfix and Maildir use: write a temporary file, fsync
it, rename it into place, fsync the directory that holds the new name.
"""
import os


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file_synced(path, data):
    """Write ``data`` (bytes) to a new file at ``path`` and fsync it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path, data, tmp_path=None):
    """Make ``path`` hold ``data`` atomically and durably.

    ``tmp_path`` (default: beside ``path``) must be on the same file system.
    An existing file at ``path`` is replaced whole or not at all.
    """
    tmp_path = tmp_path or "%s.tmp.%d" % (path, os.getpid())
    try:
        write_file_synced(tmp_path, data)
        os.replace(tmp_path, path)
    except BaseException:
        try:
            os.unlink(tmp_path)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(os.path.dirname(os.path.abspath(path)))
    if os.path.dirname(os.path.abspath(tmp_path)) != os.path.dirname(os.path.abspath(path)):
        fsync_dir(os.path.dirname(os.path.abspath(tmp_path)))
