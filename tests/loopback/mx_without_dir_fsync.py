"""Test-only: the mx with the fsync of new/ left out, a broken server for
showing that the system-call check can fail.

python -m tests.loopback.mx_without_dir_fsync ARGS (those of python -m servers.mx)
"""
import sys

from servers.mx import maildir
from servers.mx.__main__ import main

maildir.fsync_dirs = lambda paths: None

if __name__ == "__main__":
    sys.exit(main())
