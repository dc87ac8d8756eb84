"""HOST:PORT strings: the one parser every server and lab tool uses."""
import argparse


def parse_host_port(text):
    """"10.0.1.10:25" -> ("10.0.1.10", 25); ValueError saying what was expected."""
    host, _, port = str(text).rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("expected HOST:PORT, got %r" % text)
    return host, int(port)


def host_part(text):
    """The host of "HOST:PORT" ("10.0.1.10:25" -> "10.0.1.10"); text without a
    port as it is."""
    try:
        return parse_host_port(text)[0]
    except ValueError:
        return str(text)


def host_port_arg(text):
    """``parse_host_port`` as an argparse ``type``."""
    try:
        return parse_host_port(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
