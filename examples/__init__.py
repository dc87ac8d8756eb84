"""Short runnable programs on ``lab.testbed.mail_lab.Lab``: ``sudo .venv/bin/python -m examples.NAME``."""
