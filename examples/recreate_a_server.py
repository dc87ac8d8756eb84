"""Destroy mx1's host and re-create it: same name, same IP, same MAC.

``kill_host`` uses the ``destroy`` fault: mx1's interfaces are deleted and
its processes killed, as if the machine died. ``recreate`` is what the
provisioner does when the relay asks for it: a new Mininet host with mx1's
name, IP and MAC on the same switch, its messaging server started. Peers'
ARP caches stay right (the MAC did not change) and mail flows at once.

    sudo .venv/bin/python -m examples.recreate_a_server      (from the repository)
"""
import sys

from lab.testbed.mail_lab import Lab
from lab.host.waiting import wait_until


def main():
    with Lab("one_dc") as lab:
        before = lab.host("mx1").intf().MAC()
        evidence = lab.kill_host("mx1")
        print("destroyed mx1: deleted %s, killed %d processes"
              % (evidence["matched"]["interfaces"], len(evidence["matched"]["processes"])))
        created = lab.recreate("mx1")
        print("re-created %s at %s in %.2f s" % (created["name"], created["ip"],
                                                  created["seconds"]))
        print("MAC before %s, after %s" % (before, lab.host("mx1").intf().MAC()))
        lab.send(3)
        wait_until(lambda: len(lab.messages("mx1")) == 3, 10, "3 messages in the new mx1")
        print("the new mx1 took 3 messages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
