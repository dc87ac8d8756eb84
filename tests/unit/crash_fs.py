"""Crash states for a power loss, in the spirit of ALICE and CrashMonkey.

``FsRecorder`` wraps the ``os`` module's mutating calls (open with O_CREAT or
O_TRUNC, write, fsync, rename, replace, unlink, mkdir, rmdir, ftruncate) while
the servers' own code runs, and records each one made under a root directory,
in order.  Markers (say, "the client got a 250 for this message") are
recorded between the operations.

``crash_states`` then builds the trees a power loss after
the first ``point`` operations may leave, on a pessimistic model: only what
was made durable is sure to survive.

- A write (or truncation) survives for certain only if its file was fsynced
  afterwards.  Unsynced data may be lost, kept, or torn.
- A directory entry (create, rename, unlink, mkdir) survives for certain only
  if its directory was fsynced afterwards; a rename is atomic and survives if
  either directory was fsynced.  An fsync of a file does not make its name
  durable, and a directory whose own entry was lost takes its subtree with it.

Besides the surely-durable minimum, each crash point yields states in which
some unsynced operations did reach the disk: all of them (what kill -9
leaves), the names but not the data, the data but not the names, the data
torn in half, and each directory's pending names alone.  Each is a state a
real file system may be left in.
"""
import builtins
import hashlib
import os
import threading
from dataclasses import dataclass
from typing import Optional

NAME_OPS = ("creat", "rename", "unlink", "mkdir", "rmdir")
DATA_OPS = ("write", "trunc")


@dataclass(frozen=True)
class Op:
    kind: str                    # creat write trunc fsync_file fsync_dir rename unlink mkdir rmdir
    path: str = ""               # relative to the root (rename: the source)
    dest: str = ""               # rename: the destination
    inode: int = 0
    offset: int = 0
    data: bytes = b""
    size: int = 0

    def __str__(self):
        text = "%s %s" % (self.kind, self.path)
        if self.kind == "rename":
            text += " -> " + self.dest
        elif self.kind == "write":
            text += " [%d bytes at %d]" % (len(self.data), self.offset)
        elif self.kind == "trunc":
            text += " [to %d]" % self.size
        return text

    def dirs(self):
        """The directories whose entries this name operation changes."""
        if self.kind == "rename":
            return {os.path.dirname(self.path), os.path.dirname(self.dest)}
        return {os.path.dirname(self.path)}


@dataclass
class _Handle:
    kind: str                    # "file", "dir" or "other"
    path: str
    inode: Optional[int] = None


class Recording:
    def __init__(self, initial_dirs, initial_files, ops, markers):
        self.initial_dirs = initial_dirs        # set of relative paths ("" is the root)
        self.initial_files = initial_files      # relative path -> (inode, bytes)
        self.ops = ops
        self.markers = markers                  # [(position, label)]

    def markers_before(self, point):
        """Labels of the markers recorded before operation ``point``."""
        return [label for position, label in self.markers if position <= point]


class FsRecorder:
    """Records the file-system operations made through ``os`` under ``root``.

    Use as a context manager; ``mark(label)`` records a marker.  A write
    through anything but ``os`` (the built-in ``open`` in a writing mode)
    under the root fails the test: it would escape the model.
    """

    _WRAPPED = ("open", "write", "fsync", "fdatasync", "close", "rename", "replace",
                "unlink", "remove", "mkdir", "rmdir", "ftruncate")

    def __init__(self, root):
        self.root = os.path.realpath(root)
        self.ops = []
        self.markers = []
        self._lock = threading.RLock()
        self._fds = {}
        self._names = {}             # relative path -> inode, as things are now
        self._dirs = set()
        self._next_inode = 1
        self._originals = {}
        self.recording = None
        self.failing_after = None    # a number of operations: later ones raise EIO

    # -- the snapshot the model starts from

    def _snapshot(self):
        dirs, files = {""}, {}
        for top, subdirs, names in os.walk(self.root):
            rel_top = self._rel(top)
            for d in subdirs:
                dirs.add(os.path.join(rel_top, d))
            for n in names:
                rel = os.path.join(rel_top, n)
                with open(os.path.join(top, n), "rb") as f:
                    files[rel] = (self._new_inode(), f.read())
        self._names = {rel: inode for rel, (inode, _) in files.items()}
        self._dirs = set(dirs)
        return dirs, files

    def _new_inode(self):
        self._next_inode += 1
        return self._next_inode

    def _rel(self, path):
        """The path relative to the root, or None if it is outside."""
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if not isinstance(path, str):
            return None
        full = os.path.join(os.path.realpath(os.path.dirname(os.path.abspath(path))),
                            os.path.basename(path))
        if full == self.root:
            return ""
        if not full.startswith(self.root + os.sep):
            return None
        return full[len(self.root) + 1:]

    # -- recording

    def mark(self, label):
        with self._lock:
            self.markers.append((len(self.ops), label))

    def _record(self, op):
        self.ops.append(op)

    def _maybe_fail(self):
        if self.failing_after is not None and len(self.ops) >= self.failing_after:
            raise OSError(5, "the process is gone (simulated kill)")

    def __enter__(self):
        initial_dirs, initial_files = self._snapshot()
        self._initial = (initial_dirs, initial_files)
        for name in self._WRAPPED:
            self._originals[name] = getattr(os, name)
            setattr(os, name, getattr(self, "_" + name))
        self._originals["builtin_open"] = builtins.open
        builtins.open = self._builtin_open
        return self

    def __exit__(self, *exc):
        for name in self._WRAPPED:
            setattr(os, name, self._originals[name])
        builtins.open = self._originals["builtin_open"]
        self.recording = Recording(self._initial[0], self._initial[1], list(self.ops),
                                   list(self.markers))
        return False

    def _builtin_open(self, file, mode="r", *args, **kwargs):
        if isinstance(file, (str, bytes, os.PathLike)) and any(c in mode for c in "wax+") \
                and self._rel(os.fspath(file)) is not None:
            raise AssertionError("a write to %s escapes the crash model (use os calls)" % file)
        return self._originals["builtin_open"](file, mode, *args, **kwargs)

    def _open(self, path, flags, mode=0o777, *, dir_fd=None):
        o = self._originals
        rel = self._rel(path)
        if rel is None or dir_fd is not None:
            return o["open"](path, flags, mode, dir_fd=dir_fd)
        with self._lock:
            writing = flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC)
            if writing:
                self._maybe_fail()
            fd = o["open"](path, flags, mode)
            if rel in self._dirs:
                self._fds[fd] = _Handle("dir", rel)
                return fd
            inode = self._names.get(rel)
            if inode is None and flags & os.O_CREAT:
                inode = self._names[rel] = self._new_inode()
                self._record(Op("creat", rel, inode=inode))
            elif inode is not None and flags & os.O_TRUNC and writing:
                self._record(Op("trunc", rel, inode=inode, size=0))
            self._fds[fd] = _Handle("file", rel, inode) if inode else _Handle("other", rel)
            return fd

    def _write(self, fd, data):
        with self._lock:
            handle = self._fds.get(fd)
            if handle is None or handle.kind != "file":
                return self._originals["write"](fd, data)
            self._maybe_fail()
            n = self._originals["write"](fd, data)
            offset = os.lseek(fd, 0, os.SEEK_CUR) - n
            self._record(Op("write", handle.path, inode=handle.inode, offset=offset,
                            data=bytes(data[:n])))
            return n

    def _ftruncate(self, fd, length):
        with self._lock:
            handle = self._fds.get(fd)
            if handle is None or handle.kind != "file":
                return self._originals["ftruncate"](fd, length)
            self._maybe_fail()
            self._originals["ftruncate"](fd, length)
            self._record(Op("trunc", handle.path, inode=handle.inode, size=length))

    def _sync(self, name, fd):
        with self._lock:
            handle = self._fds.get(fd)
            if handle is not None and handle.kind != "other":
                self._maybe_fail()
            self._originals[name](fd)
            if handle is None or handle.kind == "other":
                return
            if handle.kind == "dir":
                self._record(Op("fsync_dir", handle.path))
            else:
                self._record(Op("fsync_file", handle.path, inode=handle.inode))

    def _fsync(self, fd):
        self._sync("fsync", fd)

    def _fdatasync(self, fd):
        self._sync("fdatasync", fd)

    def _close(self, fd):
        with self._lock:
            self._fds.pop(fd, None)
            return self._originals["close"](fd)

    def _move(self, name, src, dst, **kwargs):
        rel_src, rel_dst = self._rel(src), self._rel(dst)
        if rel_src is None and rel_dst is None:
            return self._originals[name](src, dst, **kwargs)
        assert rel_src is not None and rel_dst is not None, "a rename across the root"
        assert rel_src not in self._dirs, "directory renames are not modelled"
        with self._lock:
            self._maybe_fail()
            self._originals[name](src, dst, **kwargs)
            inode = self._names.pop(rel_src)
            self._names[rel_dst] = inode
            self._record(Op("rename", rel_src, dest=rel_dst, inode=inode))

    def _rename(self, src, dst, **kwargs):
        self._move("rename", src, dst, **kwargs)

    def _replace(self, src, dst, **kwargs):
        self._move("replace", src, dst, **kwargs)

    def _unlink(self, path, *, dir_fd=None):
        rel = self._rel(path)
        if rel is None or dir_fd is not None:
            return self._originals["unlink"](path, dir_fd=dir_fd)
        with self._lock:
            self._maybe_fail()
            self._originals["unlink"](path)
            self._names.pop(rel, None)
            self._record(Op("unlink", rel))

    _remove = _unlink

    def _mkdir(self, path, mode=0o777, *, dir_fd=None):
        rel = self._rel(path)
        if rel is None or dir_fd is not None:
            return self._originals["mkdir"](path, mode, dir_fd=dir_fd)
        with self._lock:
            self._maybe_fail()
            self._originals["mkdir"](path, mode)
            self._dirs.add(rel)
            self._record(Op("mkdir", rel))

    def _rmdir(self, path, *, dir_fd=None):
        rel = self._rel(path)
        if rel is None or dir_fd is not None:
            return self._originals["rmdir"](path, dir_fd=dir_fd)
        with self._lock:
            self._maybe_fail()
            self._originals["rmdir"](path)
            self._dirs.discard(rel)
            self._record(Op("rmdir", rel))


# -- crash states -------------------------------------------------------------

def durable_sets(ops):
    """For each crash point 0..len(ops), the indices of the operations before
    it that a later fsync made durable (each set grows from the last)."""
    durable = set()
    yield 0, frozenset(durable)
    for i, op in enumerate(ops):
        if op.kind == "fsync_file":
            durable.update(j for j in range(i) if ops[j].kind in DATA_OPS
                           and ops[j].inode == op.inode)
        elif op.kind == "fsync_dir":
            durable.update(j for j in range(i) if ops[j].kind in NAME_OPS
                           and op.path in ops[j].dirs())
        yield i + 1, frozenset(durable)


def crash_states(recording, point, durable):
    """{label: tree} for a power loss after ``recording.ops[:point]``, given
    the operations made durable by then; a tree maps relative paths to bytes
    (files) or None (directories)."""
    ops = recording.ops[:point]
    pending = [i for i in range(point) if i not in durable]
    names = {i for i in pending if ops[i].kind in NAME_OPS}
    data = {i for i in pending if ops[i].kind in DATA_OPS}
    chosen = {
        "synced only": set(),
        "everything (kill -9)": set(pending),
        "names, not data": names,
        "data, not names": data,
    }
    for d in sorted({d for i in names for d in ops[i].dirs()}):
        chosen["names of %s/ only" % (d or ".")] = {i for i in names if d in ops[i].dirs()}
    states = {label: _apply(recording, ops, durable | extra) for label, extra in chosen.items()}
    torn = _torn_writes(ops, data)
    if torn:
        states["data torn"] = _apply(recording, ops, durable | names | data, torn)
    return states


def every_crash_state(recording):
    """(point, label, tree) for every crash point and every state it may
    leave; a tree already seen with the same markers is not given again."""
    seen = set()
    for point, durable in durable_sets(recording.ops):
        markers = repr(recording.markers_before(point))
        for label, tree in crash_states(recording, point, durable).items():
            key = (tree_key(tree), markers)
            if key not in seen:
                seen.add(key)
                yield point, label, tree


def _torn_writes(ops, pending_data):
    """The last unsynced write of each file, cut in half: {index: shorter data}."""
    last = {}
    for i in sorted(pending_data):
        if ops[i].kind == "write" and len(ops[i].data) > 1:
            last[ops[i].inode] = i
    return {i: ops[i].data[:len(ops[i].data) // 2] for i in last.values()}


def _apply(recording, ops, chosen, torn=None):
    torn = torn or {}
    dirs = set(recording.initial_dirs)
    names = {rel: inode for rel, (inode, _) in recording.initial_files.items()}
    content = {inode: bytearray(data) for inode, data in recording.initial_files.values()}
    for i, op in enumerate(ops):
        if i not in chosen:
            continue
        if op.kind == "creat":
            names[op.path] = op.inode
        elif op.kind == "rename":
            names.pop(op.path, None)
            names[op.dest] = op.inode
        elif op.kind == "unlink":
            names.pop(op.path, None)
        elif op.kind == "mkdir":
            dirs.add(op.path)
        elif op.kind == "rmdir":
            dirs.discard(op.path)
        elif op.kind == "write":
            buf = content.setdefault(op.inode, bytearray())
            piece = torn.get(i, op.data)
            if len(buf) < op.offset:
                buf.extend(bytes(op.offset - len(buf)))
            buf[op.offset:op.offset + len(piece)] = piece
        elif op.kind == "trunc":
            buf = content.setdefault(op.inode, bytearray())
            del buf[op.size:]
            buf.extend(bytes(op.size - len(buf)))

    def reachable(rel):
        parent = os.path.dirname(rel)
        while parent:
            if parent not in dirs:
                return False
            parent = os.path.dirname(parent)
        return True

    tree = {d: None for d in dirs if d and reachable(d)}
    for rel, inode in names.items():
        if reachable(rel):
            tree[rel] = bytes(content.get(inode, b""))
    return tree


def tree_key(tree):
    h = hashlib.sha256()
    for rel in sorted(tree):
        h.update(rel.encode() + b"\0" + (b"D" if tree[rel] is None else b"F" + tree[rel]) + b"\0")
    return h.hexdigest()


def materialize(tree, root):
    """Write ``tree`` out under ``root`` (which must not exist yet)."""
    os.makedirs(root)
    for rel in sorted(r for r, v in tree.items() if v is None):
        os.makedirs(os.path.join(root, rel), exist_ok=True)
    for rel, data in tree.items():
        if data is not None:
            fd = os.open(os.path.join(root, rel), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
