"""Short runnable programs on ``lab.lab.Lab``: ``sudo .venv/bin/python -m examples.NAME``."""
