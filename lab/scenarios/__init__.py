"""Scenarios: the model (``model``: a TOML file into a ``Scenario``), the run
(``run``: a lab, traffic, faults, the evidence, the verdict, the reports) and
the scenarios themselves, one ``.toml`` file each in this folder (README.md has
the format).
"""
