"""``--check``: a server validates its options and files, then exits without
listening (like ipmininet's dry run), so a bad zone or an unusable queue
directory is reported before anything starts.

Each server has ``check_config(options) -> [what was checked]`` that raises
``ConfigError`` (or ValueError/OSError from its own parsers) with a message
naming the file and the fault; ``run_check`` prints the outcome and gives
the exit status. Nothing is changed on disk: writability is probed with a
temporary file, removed at once.
"""
import os
import sys
import tempfile


class ConfigError(ValueError):
    pass


def add_check_option(parser):
    parser.add_argument("--check", action="store_true",
                        help="check the configuration and files, print the verdict and exit "
                             "(0: usable) without listening")


def _opens(path, mode, what):
    try:
        with open(path, mode):
            pass
    except OSError as e:
        raise ConfigError("%s %s: %s" % (what, path, e.strerror or e)) from None
    return path


def readable_file(path, what):
    """``path`` opens for reading; returns it."""
    return _opens(path, "rb", what)


def _probe_dir(directory, what, path):
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".check-"):
            pass
    except OSError as e:
        raise ConfigError("%s %s: cannot write in %s: %s"
                          % (what, path, directory, e.strerror or e)) from None


def _nearest_existing(path):
    path = os.path.abspath(path)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return path


def writable_dir(path, what):
    """``path`` is a directory this process can write in, or can be created
    (its nearest existing parent is a writable directory)."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise ConfigError("%s %s: not a directory" % (what, path))
    existing = _nearest_existing(path)
    if not os.path.isdir(existing):
        raise ConfigError("%s %s: %s is not a directory" % (what, path, existing))
    _probe_dir(existing, what, path)
    return path


def writable_file(path, what):
    """``path`` can be appended to: an existing writable file, or a new one in a
    writable directory."""
    if os.path.isdir(path):
        raise ConfigError("%s %s: is a directory" % (what, path))
    if os.path.exists(path):
        return _opens(path, "ab", what)
    writable_dir(os.path.dirname(os.path.abspath(path)), what + "'s directory")
    return path


def run_check(prog, check_config, options):
    """Run ``check_config(options)``; print the verdict; 0 if usable, 2 if not."""
    try:
        checked = check_config(options)
    except (ValueError, OSError) as e:
        print("%s: configuration check failed: %s" % (prog, e), file=sys.stderr)
        return 2
    print("%s: configuration OK: %s" % (prog, "; ".join(checked)))
    return 0
