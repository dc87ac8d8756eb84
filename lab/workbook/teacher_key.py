"""The teacher key: a secret file that the answer-revealing commands need
(``maillab exercise solve``, right/wrong from ``maillab exercise check``,
``maillab course grade``). ``maillab course init`` makes it.

The key is 32 random bytes, written as hex to a file only its owner may
read (0600, in a directory only its owner may enter, 0700). It is found at
``--key PATH``, else ``$MAILLAB_TEACHER_KEY``, else
``~/.config/maillab/teacher.key`` (under sudo: the invoking user's). Without it, those commands refuse and
say why; the student's own commands (run, answers, check) need none.
"""
import os
import secrets
import stat

ENV = "MAILLAB_TEACHER_KEY"
KEY_BYTES = 32


class NoTeacherKey(Exception):
    pass


def default_path():
    """~/.config/maillab/teacher.key; under sudo, the invoking user's (the teacher
    makes the key as themselves, and runs the labs of ``course diagnose`` as root)."""
    home = os.path.expanduser("~")
    if os.environ.get("SUDO_USER"):
        home = os.path.expanduser("~" + os.environ["SUDO_USER"])
    return os.path.join(home, ".config", "maillab", "teacher.key")


def key_path(path=None):
    """Where the key is: ``path``, else $MAILLAB_TEACHER_KEY, else the default."""
    return path or os.environ.get(ENV) or default_path()


def create(path=None, force=False):
    """Write a new key; refuse to replace one unless ``force`` (a new key changes
    nothing students have, but the old file may be the only copy a teacher kept)."""
    path = key_path(path)
    if os.path.exists(path) and not force:
        raise FileExistsError("%s already holds a teacher key (keep it, or --force to "
                              "replace it)" % path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=0o700)
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, (secrets.token_hex(KEY_BYTES) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def load(path=None):
    """The key's bytes; ``NoTeacherKey`` saying why when it is missing, unreadable,
    malformed or readable by others."""
    path = key_path(path)
    why = "the answers are for the teacher: this command needs the teacher key"
    try:
        st = os.stat(path)
        with open(path, encoding="ascii") as f:
            text = f.read().strip()
    except FileNotFoundError:
        raise NoTeacherKey("%s, and there is none at %s (a teacher makes one with "
                           "`maillab course init`; --key PATH or $%s point to it)"
                           % (why, path, ENV)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise NoTeacherKey("%s, and %s cannot be read: %s" % (why, path, e)) from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise NoTeacherKey("%s is readable by others (mode %o): chmod 600 %s"
                           % (path, stat.S_IMODE(st.st_mode), path))
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise NoTeacherKey("%s is not a teacher key (`maillab course init` writes one)" % path)
    return key
