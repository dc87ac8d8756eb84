"""Judging a run's evidence: pure functions of records (``claims.check``) into a
``model.Verdict``."""
