"""A run's evidence read into records: what the checker judges.

- ``records``: the records (mail, frames, the queue, faults) and the readers of a
  run's files (Maildirs and the relay queue are read from their formats, not
  with the servers' code);
- ``wire``: the packet captures (one pcap reader, one ``Frame`` type);
- ``queue_watch``: the relay's queue files as read from disk during a run;
- ``queries``: questions asked of the evidence (events, hosts, message paths);
- ``saved_run``: a report directory read back (the workbook's answers read it).
"""
