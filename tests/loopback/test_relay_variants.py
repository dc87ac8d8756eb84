"""Broken relay variants (tests/variants) really are broken the way they say:
the lab tests that show the verdict failing rely on it."""
import pytest

from lab.host.waiting import wait_until
from tests.loopback.relay_support import (events_of, maildir_files, queue_files, start_mx,
                                          start_relay)
from tests.smtp_clients import swaks
from tests.support import free_port


@pytest.mark.needs_cmd("swaks")
def test_a_relay_that_drops_queued_mail_acknowledges_then_forgets(tmp_path):
    mx = start_mx(tmp_path, port=free_port())
    relay = start_relay(tmp_path, "127.0.0.1:%d" % mx.port,
                        module="tests.variants.relay_drops_queued")
    try:
        assert swaks(relay.port, msgid="<gone@test>").returncode == 0   # 250
        wait_until(lambda: events_of(relay, "queued"), 10, "queued")
        wait_until(lambda: not queue_files(relay.queue), 10, "queue file removed")
        assert maildir_files(mx.maildir) == []
        assert not events_of(relay, "delivered")
    finally:
        relay.stop()
        mx.stop()


def test_the_production_relay_has_no_test_switch():
    from servers.relay.service import build_parser
    assert not [a for a in build_parser()._actions
                if any("test" in o for o in a.option_strings)]
