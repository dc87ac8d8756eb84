"""``maillab bench memory``: the peak memory of mx and the relay receiving
1, 10 and 50 concurrent 10 MB messages, on loopback.

For each server and each count a fresh server is started (its own
directory), takes one small message (so that its thread pools and imports
are in place), and its resident size then is the baseline; the kernel's
peak mark is reset (``/proc/PID/clear_refs``), the messages are sent at
once by that many SMTP sessions, and once every one has its 250 the peak
(``VmHWM``) is read. It prints one line per run and, last, one JSON line;
per session is (peak - baseline) / sessions. Not a test: the figures
depend on the machine.

The relay's next hop is a listener that accepts and never answers, so its
first delivery attempts wait (for the greeting) through the measurement:
the figure is what receiving costs. ``--relay-next-hop refusing`` points it
at a closed port instead: each failed attempt then rewrites the queue file
(``Queue.save``), which today reads the whole message, and that shows.
"""
import argparse
import json
import os
import smtplib
import subprocess
import sys
import tempfile
import threading

from lab import ROOT

MESSAGE_BYTES = 10 * 1000 * 1000
COUNTS = (1, 10, 50)


def message(size, n):
    head = ("From: bench@example.net\r\nTo: u@example.org\r\nSubject: bench %d\r\n"
            "Message-ID: <bench-%d-%s@example.net>\r\n\r\n" % (n, n, os.urandom(4).hex()))
    line = b"x" * 76 + b"\r\n"
    return head.encode() + line * (size // len(line))


def kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def silent_listener():
    """A socket that accepts connections (the kernel does) and never answers."""
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1024)
    return s


def start(kind, directory, root, next_hop="127.0.0.1:9"):
    common = ["--listen", "127.0.0.1", "--port", "0", "--domain", "example.org",
              "--hostname", kind + ".bench"]
    if kind == "mx":
        args = ["--maildir", os.path.join(directory, "mail")]
    else:
        args = ["--queue", os.path.join(directory, "queue"), "--next-hop", next_hop,
                "--retry-interval", "3600", "--max-retry-interval", "3600"]
    proc = subprocess.Popen([sys.executable, "-m", "servers." + kind] + common + args, cwd=root,
                            env=dict(os.environ, PYTHONPATH=root), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    if "listening on" not in line:
        proc.kill()
        raise RuntimeError("servers.%s did not start: %s" % (kind, line))
    threading.Thread(target=proc.stderr.read, daemon=True).start()
    return proc, int(line.rsplit(":", 1)[1])


def send(port, data, errors):
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=300) as s:
            s.sendmail("bench@example.net", ["u@example.org"], data)
    except Exception as e:      # noqa: BLE001 - reported, the run goes on
        errors.append(repr(e))


def run(kind, sessions, size, root, refusing=False):
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as directory, \
            silent_listener() as silent:
        hop = "127.0.0.1:9" if refusing else "127.0.0.1:%d" % silent.getsockname()[1]
        proc, port = start(kind, directory, root, hop)
        try:
            errors = []
            send(port, message(1000, 0), errors)
            baseline = kib(proc.pid, "VmRSS")
            with open("/proc/%d/clear_refs" % proc.pid, "w") as f:
                f.write("5")            # reset the peak mark (VmHWM) to the current size
            data = [message(size, n) for n in range(1, sessions + 1)]
            threads = [threading.Thread(target=send, args=(port, d, errors)) for d in data]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            peak = kib(proc.pid, "VmHWM")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    if errors:
        raise RuntimeError("%s: %d of %d sends failed: %s" % (kind, len(errors), sessions,
                                                               errors[0]))
    return {"server": kind, "sessions": sessions, "message_bytes": size,
            "baseline_mib": round(baseline / 1024, 1), "peak_mib": round(peak / 1024, 1),
            "per_session_mib": round((peak - baseline) / 1024 / sessions, 2)}


def bench_memory(counts=COUNTS, size=MESSAGE_BYTES, root=ROOT, out=sys.stdout,
                 refusing=False):
    results = []
    for kind in ("mx", "relay"):
        for sessions in counts:
            r = run(kind, sessions, size, root, refusing)
            results.append(r)
            print("%-5s %2d x %.1f MB at once: baseline %6.1f MiB, peak %6.1f MiB, "
                  "%5.2f MiB per session" % (kind, sessions, size / 1e6, r["baseline_mib"],
                                             r["peak_mib"], r["per_session_mib"]),
                  file=out, flush=True)
    print(json.dumps(results), file=out, flush=True)
    return results


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m lab.cli.bench_memory", description=__doc__.split(
        "\n\n")[0])
    p.add_argument("--counts", default=",".join(map(str, COUNTS)),
                   help="concurrent sessions, comma-separated (default %(default)s)")
    p.add_argument("--size", type=int, default=MESSAGE_BYTES, metavar="BYTES")
    p.add_argument("--servers-from", default=ROOT, metavar="DIR",
                   help="a checkout whose servers to measure (default: this one)")
    p.add_argument("--relay-next-hop", choices=("silent", "refusing"), default="silent",
                   help="the relay's next hop: accepts and never answers (default: "
                        "receiving alone is measured), or refuses (retries rewrite files)")
    args = p.parse_args(argv)
    bench_memory([int(c) for c in args.counts.split(",")], args.size, args.servers_from,
                 refusing=args.relay_next_hop == "refusing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
