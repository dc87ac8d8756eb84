"""The workbook: exercises for a class, each a scenario plus questions, with
answers computed from the run's own evidence (``maillab exercises``)."""
