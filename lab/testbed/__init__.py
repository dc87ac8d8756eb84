"""The running lab: the ``Lab`` object (``mail_lab``) and what it starts.

- ``mail_lab``: ``Lab``, the network with its services, provisioner and routes;
- ``services``: the servers' command lines and processes in Mininet hosts;
- ``provisioner``: the lab's provisioner, which creates messaging servers on request;
- ``zone``: the lab's DNS zone and TSIG key, from the address plan;
- ``dns_update``: signed RFC 2136 UPDATEs, run in a host (``python -m lab.testbed.dns_update``);
- ``route_keeper``: the routes a host keeps while links come and go;
- ``mta_role``: what a host asks of a real MTA (role, names, the scenario's numbers);
- ``mta_postfix``: a private Postfix for a role, run in a lab host (and ``maillab bench``'s);
- ``mta_log``: a real MTA's log read as it is written, each line stamped.
"""
