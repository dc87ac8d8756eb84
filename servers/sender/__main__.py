"""python -m servers.sender: send test traffic through the lab's MX records."""
import logging
import sys

from twisted.internet import task

from servers.common.config_check import run_check
from servers.sender.service import build_parser, check_config, make_service


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.check:
        return run_check("servers.sender", check_config, args)
    logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
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
