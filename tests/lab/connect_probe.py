"""connect_probe.py IP PORT TIMEOUT: print what a TCP connect got:
'open', 'refused', 'timeout' or 'error ...'."""
import socket
import sys

s = socket.socket()
s.settimeout(float(sys.argv[3]))
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    print("open")
except socket.timeout:
    print("timeout")
except ConnectionRefusedError:
    print("refused")
except OSError as e:
    print("error", e)
