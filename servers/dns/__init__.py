"""The lab's authoritative DNS server: zones, answers, TSIG, UPDATE, health checks."""
