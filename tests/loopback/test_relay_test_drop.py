"""The hidden ``--test-drop-queued`` relay option really loses mail (after its 250),
which is what the scenario lab test relies on to show the checker failing."""
import pytest

from lab.wait import wait_until
from tests.loopback.relay_support import (events_of, maildir_files, queue_files, start_mx,
                                          start_relay)
from tests.smtp_clients import swaks
from tests.support import free_port

pytestmark = pytest.mark.needs_cmd("swaks")


def test_a_broken_relay_acknowledges_then_forgets(tmp_path):
    mx = start_mx(tmp_path, port=free_port())
    relay = start_relay(tmp_path, "127.0.0.1:%d" % mx.port, extra=["--test-drop-queued"])
    try:
        assert swaks(relay.port, msgid="<gone@test>").returncode == 0   # 250
        wait_until(lambda: events_of(relay, "queued"), 10, "queued")
        wait_until(lambda: not queue_files(relay.queue), 10, "queue file removed")
        assert maildir_files(mx.maildir) == []
        assert not events_of(relay, "delivered")
    finally:
        relay.stop()
        mx.stop()
