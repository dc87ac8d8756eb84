"""Cut mx1's link: mail falls back to the relay, and reaches mx1 once the link is back.

The ``cut`` fault takes both ends of the mx1 -- s1 link down (the same fault
``maillab up`` offers as ``fault cut mx1 s1``). Senders cannot reach mx1, so
they fall back to the next MX, the relay, which stores each message durably
before its 250. When the cut is stopped the link comes back, and the relay's
next retry delivers everything it held to mx1.

    sudo .venv/bin/python -m examples.cut_a_link      (from the repository)
"""
import sys

from lab.testbed.mail_lab import Lab
from lab.host.waiting import wait_until

FAST = ["--retry-interval", "0.5", "--max-retry-interval", "0.5", "--connect-timeout", "1"]


def main():
    with Lab("one_dc", relay_args=FAST) as lab:
        cut = lab.fault("cut", "mx1", "s1")
        ledger = lab.send(5, extra=["--connect-timeout", "1"])
        print("while mx1's link is cut the sender handed mail to:", {r["mx"] for r in ledger})
        print("the relay holds %d messages" % len(lab.queue()))
        evidence = cut.stop()
        print("link restored; while cut, the interfaces were:", evidence["operstate_during"])
        wait_until(lambda: len(lab.messages("mx1")) == 5, 20, "5 messages in mx1")
        print("mx1 got all 5 from the relay; the relay holds %d" % len(lab.queue()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
