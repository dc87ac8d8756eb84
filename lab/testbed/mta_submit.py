"""Hand the scenario's messages to a real MTA on a client host, at the
scenario's rate: ``python -m lab.testbed.mta_submit --etc DIR ...``.

Each message is the one maillab's sender would send (servers.sender.compose:
the same Message-IDs), given to the MTA's own submission command (Postfix's
``sendmail -C DIR``); what the MTA then does with it - MX lookup, fallback,
retries - is the MTA's, and its log says where each message went
(lab.evidence.postfix_log turns that into the sender's ledger).
"""
import argparse
import subprocess
import sys
import time

from servers.sender.compose import build_message, message_id


def build_parser():
    p = argparse.ArgumentParser(prog="python -m lab.testbed.mta_submit", description=__doc__)
    p.add_argument("--etc", required=True, help="the MTA's configuration directory")
    p.add_argument("--to", required=True)
    p.add_argument("--from", dest="sender", default="sender@client.lab")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--rate", type=float, default=0.0, help="messages a second (0: no limit)")
    p.add_argument("--seed", default="1")
    p.add_argument("--msgid-prefix", required=True)
    p.add_argument("--size", type=int, default=0)
    return p


def submit(etc, sender, to, message):
    """``sendmail -C etc``: 0 once the MTA has the message in its queue."""
    done = subprocess.run(["sendmail", "-C", etc, "-i", "-f", sender, "--", to],
                          input=message, capture_output=True, timeout=60)
    if done.returncode != 0:
        print("sendmail exited %d: %s" % (done.returncode, done.stderr.decode(errors="replace")),
              file=sys.stderr, flush=True)
    return done.returncode


def main(argv=None):
    args = build_parser().parse_args(argv)
    start, failed = time.monotonic(), 0
    for n in range(1, args.count + 1):
        if args.rate:
            due = start + (n - 1) / args.rate
            time.sleep(max(0.0, due - time.monotonic()))   # wait: the scenario's rate
        msgid = message_id(args.msgid_prefix, args.seed, n)
        failed += bool(submit(args.etc, args.sender, args.to,
                              build_message(args.sender, args.to, msgid, n, args.size)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
