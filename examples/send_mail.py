"""Send mail through a lab and find it in the messaging server's Maildir.

A one-data-center lab comes up (a DNS server, mx1, the backup relay and two
client hosts, joined by routers); ``client1`` sends ten messages like an
MTA would: it asks the lab DNS for ``MX example.org``, gets ``10 mx1`` and
``20 relay1``, and hands each message to mx1. Every 250 it receives is a
line of its ledger, and every message is a file in mx1's Maildir.

    sudo .venv/bin/python -m examples.send_mail      (from the repository)
"""
import sys

from lab.testbed.mail_lab import Lab
from lab.host.waiting import wait_until


def main():
    with Lab("one_dc") as lab:
        print("MX records a client sees:", lab.mx_records())
        ledger = lab.send(10, client="client1")
        print("the sender got %d x 250, from %s" % (len(ledger), {r["mx"] for r in ledger}))
        wait_until(lambda: len(lab.messages("mx1")) == 10, 10, "10 messages in mx1")
        print("mx1's Maildir holds %d messages, e.g. %s" % (len(lab.messages("mx1")),
                                                            lab.messages("mx1")[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
