"""Where a run's report is seen from the machine the student sits at.

In the Vagrant VM and in the container, ``reports/`` is a folder shared with
the student's own machine, where a browser and Wireshark are. Both write
``/etc/maillab/where-reports`` (the Vagrantfile's provisioning, the
Containerfile), ``key=value`` lines:

- ``guest_reports``: the shared folder's path here (default ``/maillab/reports``);
- ``host_reports``: the same folder's path on the student's machine, or
  ``host_label``: how to name it when that path is not known here (a container);
- ``copy_out``: the command, run on the student's machine, that copies the
  reports out when the folder is not shared after all (a provider that could not
  share it, a container started without ``-v``).

On a plain Debian machine the file does not exist and nothing more is said.
"""
import os

WHERE_FILE = "/etc/maillab/where-reports"
GUEST_REPORTS = "/maillab/reports"


def read_hints(path=WHERE_FILE):
    """The ``key=value`` lines of ``path``; {} if there is no such file."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return {}
    hints = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if sep and key.strip() and not key.startswith("#"):
            hints[key.strip()] = value.strip()
    return hints


def _inside(path, folder):
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def where_to_open(report_file, hints=None, is_mount=os.path.ismount):
    """Lines that say where ``report_file`` (a path here) is on the student's machine,
    or how to get it there; [] where there is nothing to add (no hints file)."""
    hints = read_hints() if hints is None else hints
    if not hints:
        return []
    guest = os.path.normpath(hints.get("guest_reports") or GUEST_REPORTS)
    path = os.path.normpath(os.path.abspath(report_file))
    if not _inside(path, guest):
        return ["%s is not in %s, the folder shared with your machine: copy it there to "
                "open it on your machine." % (report_file, guest)]
    rel = os.path.relpath(path, guest)
    if is_mount(guest):
        host = hints.get("host_reports")
        if host:
            sep = "\\" if "\\" in host and "/" not in host else "/"
            return ["On your machine: %s%s%s" % (host.rstrip(sep), sep,
                                                rel.replace("/", sep))]
        label = hints.get("host_label", "the folder shared as %s" % guest)
        return ["On your machine: %s, in %s" % (rel, label)]
    copy = hints.get("copy_out")
    lines = ["%s is not shared with your machine (nothing is mounted there)." % guest]
    if copy:
        lines.append("To copy the reports out, run on your machine: %s" % copy)
    return lines
