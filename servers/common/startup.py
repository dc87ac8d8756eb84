"""What every server's ``main`` does first: ``--check``, then logging."""
import logging

from twisted.logger import STDLibLogObserver, globalLogBeginner

from servers.common.config_check import run_check


def begin(prog, options, check_config, default_level=logging.WARNING):
    """With ``--check``: check, and return the exit status. Otherwise set up
    logging (each ``-v`` one level more, Twisted's own log included, unhandled
    errors too) and return None."""
    if options.check:
        return run_check(prog, check_config, options)
    logging.basicConfig(level=default_level - 10 * min(int(options.verbose), 2),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    globalLogBeginner.beginLoggingTo([STDLibLogObserver()], redirectStandardIO=False)
    return None
