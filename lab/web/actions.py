"""What the page may ask of ``maillab up``, done through the lab's own verbs.

A request is a small JSON object; ``parse(request)`` checks it (pure) and
returns an ``Action``; ``Action.run(lab)`` does it with the same calls the
``maillab up`` CLI makes: ``lab.send``, ``lab.recreate`` and
``lab.faults.console.run_fault_command`` (``fault cut mx1 s1 --for 30``,
``fault stop ID``, ``fault clear``). Nothing here starts a process itself.

    {"kind": "send", "count": 5, "client": "client1"}
    {"kind": "fault", "name": "cut", "args": "mx1 s1", "for": 30}
    {"kind": "stop", "id": "cut-3"}       {"kind": "clear"}
    {"kind": "recreate", "name": "mx1"}
"""
import re
import shlex
from dataclasses import dataclass

import lab.faults as registry

MAX_SEND = 1000
MAX_DURATION = 3600.0
NAME = re.compile(r"^[A-Za-z0-9_.:@|-]+$")    # host names, SERVICE@HOST, A:B, fault ids


class BadAction(ValueError):
    pass


@dataclass(frozen=True)
class Action:
    kind: str
    text: str          # what it is, for people (and the fault CLI line)
    count: int = 0
    target: str = ""

    def run(self, lab):
        """Do it (blocking); the text to show."""
        if self.kind == "send":
            from lab.testbed.services import send_summary
            return send_summary(lab.send(self.count, client=self.target or None), self.count)
        if self.kind == "recreate":
            record = lab.recreate(self.target)
            return "%s re-created (%s) in %.2f s" % (record["name"], record["ip"],
                                                     record["seconds"])
        from lab.faults.console import run_fault_command
        return run_fault_command(lab, self.text)


def _name(value, what):
    value = str(value or "").strip()
    if not NAME.match(value):
        raise BadAction("%s: give a name (letters, digits, . : @ | -), not %r" % (what, value))
    return value


def _number(value, what, low, high, kind=float):
    try:
        n = kind(value)
    except (TypeError, ValueError):
        raise BadAction("%s: not a number: %r" % (what, value)) from None
    if not low <= n <= high:
        raise BadAction("%s: between %s and %s" % (what, low, high))
    return n


def parse(request):
    """An Action from the page's request, or BadAction saying what is wrong."""
    if not isinstance(request, dict):
        raise BadAction("expected a JSON object")
    kind = request.get("kind")
    if kind == "send":
        count = _number(request.get("count", 1), "count", 1, MAX_SEND, int)
        client = _name(request["client"], "client") if request.get("client") else ""
        return Action("send", "send %d%s" % (count, " " + client if client else ""),
                      count=count, target=client)
    if kind == "recreate":
        name = _name(request.get("name"), "host")
        return Action("recreate", "recreate %s" % name, target=name)
    if kind == "stop":
        return Action("stop", "fault stop %s" % _name(request.get("id"), "fault id"))
    if kind == "clear":
        return Action("clear", "fault clear")
    if kind == "fault":
        name = request.get("name")
        if name not in registry.FAULTS:
            raise BadAction("no fault %r; faults: %s" % (name, ", ".join(registry.FAULTS)))
        try:
            args = shlex.split(str(request.get("args") or ""))
        except ValueError as e:
            raise BadAction("arguments: %s" % e) from None
        if any(a == "--for" for a in args):
            raise BadAction("give the duration in 'for', not in the arguments")
        words = ["fault", name] + args
        if request.get("for") not in (None, ""):
            seconds = _number(request["for"], "for", 0.1, MAX_DURATION)
            words += ["--for", "%g" % seconds]
        return Action("fault", " ".join(shlex.quote(w) for w in words))
    raise BadAction("unknown action %r (send, fault, stop, clear, recreate)" % (kind,))


def fault_menu():
    """[{name, usage, summary, lasting}] for the page's fault form."""
    return [{"name": s.name, "usage": s.usage, "summary": s.summary, "lasting": s.lasting}
            for s in registry.FAULTS.values()]
