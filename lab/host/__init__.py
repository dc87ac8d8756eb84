"""Plumbing of this one machine: Mininet networks, Open vSwitch, ``ip -j``, one lab
at a time, signals, waiting on a condition, and leaving nothing behind.

- ``net``: a Mininet network for a topology, prepared hosts, the switch kinds;
- ``ovs``: Open vSwitch switches (kernel or userspace datapath);
- ``iproute``: ``ip -j`` and ``tc -j`` output as data;
- ``lock``: ``/run/maillab.lock``, one lab on the machine at a time;
- ``cleanup_records``: what a run created, recorded so that a later clean finds it;
- ``clean``: ``maillab clean``'s work: processes, namespaces, links, bridges;
- ``interrupt``: a signal ends the work and the teardown still runs;
- ``waiting``: wait on a condition with a timeout; a TCP port open from a host;
- ``ssh``, ``cluster_net``, ``cluster_check``: the other servers of a lab spread
  over several (``--cluster``): SSH access, Mininet's cluster classes, what a
  server lacks.
"""
