"""Watch the relay's queue while mx1 is black-holed, then drain.

``blackhole mx1`` drops every packet to mx1 (no RST, no ICMP): connects
time out. Mail goes to the relay; its queue shows each message with its
next hop and the number of delivery attempts, growing once per retry
interval. When the black hole ends the queue drains to mx1.

    sudo .venv/bin/python -m examples.watch_the_queue      (from the repository)
"""
import sys
import time

from lab.testbed.mail_lab import Lab
from lab.host.waiting import wait_until

FAST = ["--retry-interval", "0.5", "--max-retry-interval", "0.5", "--connect-timeout", "0.5"]


def show(lab):
    for entry in lab.queue():
        print("  %s  next hop %-16s attempts %d  %s" % (entry["msgid"], entry["next_hop"],
                                                      entry["attempts"], entry["last_error"]))


def main():
    with Lab("one_dc", relay_args=FAST) as lab:
        hole = lab.fault("blackhole", "mx1")
        lab.send(3, extra=["--connect-timeout", "0.5"])
        for _ in range(3):
            print("queue at %s:" % time.strftime("%H:%M:%S"))
            show(lab)
            time.sleep(0.6)     # wait: the point is to watch the attempts grow
        hole.stop()
        wait_until(lambda: not lab.queue(), 20, "the relay's queue empty")
        print("black hole over: the queue is empty, mx1 has %d messages"
              % len(lab.messages("mx1")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
