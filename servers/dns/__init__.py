"""The lab's authoritative DNS server.

    python -m servers.dns --zone FILE --listen ADDR --port N [--tsig-key FILE]
        [--tsig-state FILE] [--tsig-min-mac BYTES]
        [--events FILE] [--health FILE] [--allow-axfr ADDR ...] [-v]

zone.py      master files in, master files out (atomic write-back)
wire_format.py  wire parsing that tolerates RFC 2136 forms and locates TSIG
answer.py    answers to QUERY: a pure function of request and zones
tsig.py      RFC 8945 HMAC-SHA256, MAC truncation rules, BIND key files
replay.py    signed UPDATEs only move forward in time, across restarts
update.py    RFC 2136 UPDATE
health.py    health-checked MX sets
server.py    bytes in, bytes out; the UDP and TCP protocols
service.py   options to services (make_service, --check)
__main__.py  main(): the command line
update_client.py  a TSIG-signed UPDATE client for Python callers
"""
