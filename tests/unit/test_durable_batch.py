"""Batch durable writes (servers.common.durable.write_files_synced)."""
import os

import pytest

from servers.common import durable


def test_every_file_written_and_fsynced(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append(os.readlink("/proc/self/fd/%d" % fd))
        return real_fsync(fd)
    monkeypatch.setattr(os, "fsync", fsync)
    files = [(str(tmp_path / ("f%d" % i)), b"data %d" % i) for i in range(5)]
    durable.write_files_synced(files)
    for path, data in files:
        assert open(path, "rb").read() == data
    assert sorted(synced) == sorted(p for p, _ in files)


def test_a_failure_removes_what_was_created(tmp_path, monkeypatch):
    (tmp_path / "exists").write_bytes(b"x")
    with pytest.raises(FileExistsError):
        durable.write_files_synced([(str(tmp_path / "new1"), b"a"), (str(tmp_path / "exists"), b"b")])
    assert sorted(os.listdir(tmp_path)) == ["exists"]

    def broken(fd):
        raise OSError(5, "I/O error")
    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(OSError):
        durable.write_files_synced([(str(tmp_path / "a"), b"a"), (str(tmp_path / "b"), b"b")])
    assert sorted(os.listdir(tmp_path)) == ["exists"]
