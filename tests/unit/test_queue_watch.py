"""The run's own watch on the relay's queue directory: every version of every
queue file, read as it is renamed into place, and how many files there are."""
import os

from lab.evidence.queue_watch import QueueWatch
from lab.host.waiting import wait_until
from servers.common.durable import write_atomic


def parse(raw):
    msgid, hop = raw.decode().split()
    return {"msgid": msgid, "next_hop": hop}


def test_every_version_and_removal_is_seen(tmp_path):
    d = tmp_path / "queue"
    d.mkdir()
    write_atomic(str(d / "a.q"), b"<a@x> mx:example.org")
    watch = QueueWatch(str(d), parse).start()

    def then_seen(n, what):
        # each change waits until the watch has read the one before: it reads a
        # file when its event arrives, so two renames in a row on a busy machine
        # are read as the later version twice (and a removal as `missed`, below)
        wait_until(lambda: len(watch.seen) >= n, 10, what)
    try:
        then_seen(1, "the file that was there before the watch")
        write_atomic(str(d / "b.q"), b"<b@x> mx:example.org")
        then_seen(2, "a new file")
        for n, hop in ((3, "10.0.2.11:25"), (4, "10.0.2.12:25")):
            write_atomic(str(d / "a.q"), ("<a@x> %s" % hop).encode())
            then_seen(n, "a.q's version via %s" % hop)
        (d / ".c.tmp").write_text("ignored")
        os.unlink(str(d / "b.q"))
        then_seen(5, "the removal")
        (d / "recycle").mkdir()
        os.rename(str(d / "a.q"), str(d / "recycle" / "a"))    # how the relay removes now
        then_seen(6, "the file moved to recycle/")
    finally:
        watch.stop()
    hops = [(s["msgid"], s["next_hop"]) for s in watch.seen if "msgid" in s]
    assert hops == [("<a@x>", "mx:example.org"), ("<b@x>", "mx:example.org"),
                    ("<a@x>", "10.0.2.11:25"), ("<a@x>", "10.0.2.12:25")]
    snaps = watch.snapshots()
    assert [s["files"] for s in snaps] == [1, 2, 2, 2, 1, 0]
    assert snaps[-1]["entries"] == [] and watch.missed == 0


def test_a_file_gone_before_it_is_read_is_counted_missed_never_guessed(tmp_path):
    watch = QueueWatch(str(tmp_path), parse)
    watch._read("gone.q")                  # its event arrived after the relay removed it
    assert watch.missed == 1 and watch.seen == [] and watch.present == set()


def test_the_watch_on_another_server_streams_what_it_sees_back(tmp_path):
    """RemoteQueueWatch with a "remote" host whose popen runs here (the test's
    stand-in for ssh): the watch process starts in the server's root namespace
    (no mnexec), says when it is in place, and its observations come back."""
    import subprocess
    from lab.evidence.queue_watch import RemoteQueueWatch
    from servers.relay.queue import QueueEntry, serialize

    class Relay:
        name = "relay1"

        def popen(self, argv, **kwargs):
            assert kwargs.pop("mncmd") == []
            return subprocess.Popen(argv, **kwargs)

    def stored(msgid, hop):
        return serialize(QueueEntry("id-" + msgid, msgid, "a@x", ["b@y"], hop, 1.0), b"Hi\n")

    d = tmp_path / "queue"
    d.mkdir()
    write_atomic(str(d / "a.q"), stored("<a@x>", "mx:example.org"))
    watch = RemoteQueueWatch(Relay(), str(d)).start()
    try:
        wait_until(lambda: len(watch.seen) >= 1, 10, "the file there before the watch")
        write_atomic(str(d / "a.q"), stored("<a@x>", "10.0.1.10:25"))
        wait_until(lambda: len(watch.seen) >= 2, 10, "its new version")
        os.unlink(str(d / "a.q"))
        wait_until(lambda: len(watch.seen) >= 3, 10, "its removal")
    finally:
        watch.stop()
    assert watch.proc.returncode == 0 and watch.missed == 0
    assert [(s.get("next_hop"), s["files"]) for s in watch.seen] == [
        ("mx:example.org", 1), ("10.0.1.10:25", 1), (None, 0)]
    assert watch.snapshots()[0]["entries"] == [{"msgid": "<a@x>", "next_hop": "mx:example.org"}]
