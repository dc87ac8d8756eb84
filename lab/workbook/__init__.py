"""The workbook's code: the catalog of exercises, the answer functions that compute
each answer from a run's own evidence, and the grading (``maillab exercises``).
The exercises themselves (worksheets, scenarios, questions) are the top-level
``exercises/`` folder."""
