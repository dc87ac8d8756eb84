"""A DNS server that ignores its health checks: mx1 stays in the MX answer
while it is down (claim 9, health-checked)."""
import sys

from tests.variants import run_dns


def without_health(argv):
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--health":
            skip = True
        else:
            out.append(a)
    return out


if __name__ == "__main__":
    run_dns(lambda: None, without_health(sys.argv[1:]))
