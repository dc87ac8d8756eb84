"""What a lab has created, written down as it is created.

A run that crashes (kill -9, power cut) cannot clean up after itself;
``maillab clean`` reads these records and removes what they name. Records
live under /run, which a reboot empties along with what they describe.
"""
import os

STATE_DIR = os.environ.get("MAILLAB_STATE", "/run/maillab")
# ovs: OVS daemons a lab started; remote: what a lab spread over servers made on each
# (lab/host/cluster_net.py, one JSON object a line)
KINDS = ("bridges", "dirs", "pids", "ovs", "remote")


def _path(kind):
    if kind not in KINDS:
        raise ValueError("unknown record kind %r" % kind)
    return os.path.join(STATE_DIR, kind)


def record(kind, value):
    os.makedirs(STATE_DIR, exist_ok=True)
    with open(_path(kind), "a", encoding="utf-8") as f:
        f.write("%s\n" % value)


def recorded(kind):
    try:
        with open(_path(kind), encoding="utf-8") as f:
            return [line.strip() for line in f if line.strip()]
    except FileNotFoundError:
        return []


def forget(kind):
    try:
        os.unlink(_path(kind))
    except FileNotFoundError:
        pass
