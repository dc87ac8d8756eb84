"""Chaos runs: a seeded fault schedule (``schedule``), its run (``runs``) and the
reduction of a failing one to the smallest schedule that still fails (``shrink``).
"""
