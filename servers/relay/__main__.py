"""python -m servers.relay: the backup relay (store, retry, re-route)."""
import logging
import os
import signal
import sys

from servers.common.startup import begin
from servers.relay.service import (build_parser, check_args, check_config, flush_queue,
                                   list_queue, make_service, pid_path, write_pid)

log = logging.getLogger("servers.relay")


def main(argv=None):
    p = build_parser()
    args = p.parse_args(argv)
    check_args(p, args)
    status = begin("servers.relay", args, check_config)
    if status is not None:
        return status
    if args.list:
        return list_queue(args.queue)
    if args.flush:
        return flush_queue(args.queue)

    from twisted.internet import reactor

    top = make_service(args, reactor, sys.argv[1:] if argv is None else argv)
    events = top.events
    top.startService()
    bound = top.listener._port.getHost()
    write_pid(args.queue)
    signal.signal(signal.SIGUSR1,
                  lambda *_: reactor.callFromThread(top.scheduler.flush))
    print("listening on %s:%d" % (bound.host, bound.port), file=sys.stderr, flush=True)
    events.emit("started", port=bound.port, listen=bound.host, domains=args.domain,
                queue=os.path.abspath(args.queue), receivers=args.receivers)
    reactor.addSystemEventTrigger("before", "shutdown", top.stopService)
    reactor.run()
    try:
        os.unlink(pid_path(args.queue))
    except OSError:
        pass
    events.emit("stopped")
    events.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
