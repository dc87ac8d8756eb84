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


def make_dirs(path):
    """``os.makedirs(path, exist_ok=True)``, durably: the name of every
    directory it creates, and of ``path`` itself (a run that died before
    syncing may have made it), is fsynced into its parent."""
    path = os.path.abspath(path)
    missing = []
    d = path
    while not os.path.isdir(d):
        missing.append(d)
        d = os.path.dirname(d)
    os.makedirs(path, exist_ok=True)
    for parent in sorted({os.path.dirname(p) for p in missing} | {os.path.dirname(path)},
                         key=len, reverse=True):
        fsync_dir(parent)


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


_fsync_pool = None


def _fsync_all(fds):
    """fsync every descriptor; concurrently, because the file system commits
    concurrent fsyncs together (ext4: one journal commit for many files)."""
    global _fsync_pool
    if len(fds) == 1:
        os.fsync(fds[0])
        return
    if _fsync_pool is None:
        from concurrent.futures import ThreadPoolExecutor
        _fsync_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="fsync")
    for _ in _fsync_pool.map(os.fsync, fds):
        pass


def write_data(fd, data):
    """Write ``data``: bytes, an object with ``chunks()`` (a spooled message,
    copied a chunk at a time), or a list or tuple of those, in order."""
    if isinstance(data, (list, tuple)):
        for part in data:
            write_data(fd, part)
        return
    for chunk in data.chunks() if hasattr(data, "chunks") else (data,):
        view = memoryview(chunk)
        while view:
            view = view[os.write(fd, view):]


def write_files_synced(files, overwrite=()):
    """Write each ``(path, data)`` as a new file and fsync them all; ``data``
    is bytes, a spooled message (``chunks()``) or a list of such parts.
    A path in ``overwrite`` names an existing file of ours (a recycled one,
    see servers/relay/queue.py): it is overwritten in place and cut to its
    new length, which costs the file system no new inode (or a new file is
    made, if it is gone).

    For a batch of messages: all are durable when this returns; if it
    raises, the files it created are removed.
    """
    fds, created = [], []
    try:
        for path, data in files:
            fd = None
            if path in overwrite:
                try:
                    fd = os.open(path, os.O_WRONLY)
                except FileNotFoundError:
                    pass
            if fd is None:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            fds.append(fd)
            created.append(path)
            write_data(fd, data)
            if path in overwrite:
                os.ftruncate(fd, os.lseek(fd, 0, os.SEEK_CUR))
        _fsync_all(fds)
    except BaseException:
        for path in created:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        raise
    finally:
        for fd in fds:
            os.close(fd)


def fsync_dirs(paths):
    """fsync_dir for each path, concurrently."""
    fds = [os.open(p, os.O_RDONLY | os.O_DIRECTORY) for p in paths]
    try:
        if fds:
            _fsync_all(fds)
    finally:
        for fd in fds:
            os.close(fd)
