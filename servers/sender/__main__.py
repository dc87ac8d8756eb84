"""python -m servers.sender: send test traffic through the lab's MX records."""
import sys

from twisted.internet import task

from servers.common.startup import begin
from servers.sender.service import build_parser, check_config, make_service


def main(argv=None):
    args = build_parser().parse_args(argv)
    status = begin("servers.sender", args, check_config)
    if status is not None:
        return status
    code = []

    def go(reactor):
        top = make_service(args, reactor)
        top.startService()
        top.done.addCallback(code.append)
        return top.done
    try:
        task.react(go)
    except SystemExit as e:
        if e.code:
            return e.code
    return code[0] if code else 1


if __name__ == "__main__":
    sys.exit(main())
