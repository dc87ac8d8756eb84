"""Broken provisioners and a broken network, as Lab subclasses
(``Run(..., lab_options={"lab_class": ...})``)."""
import contextlib
import dataclasses

from lab.testbed import mail_lab as lab_module
from lab.testbed.mail_lab import Lab

OTHER_MAC = "02:00:de:ad:be:ef"


@contextlib.contextmanager
def _host_params_with_mac(mac):
    real = lab_module.host_params
    lab_module.host_params = lambda info: dict(real(info), mac=mac)
    try:
        yield
    finally:
        lab_module.host_params = real


class RecreatesWithAnotherMac(Lab):
    """Re-creates mx1 with its name and IP, but another MAC (claim 19)."""

    def recreate(self, name, **kwargs):
        with _host_params_with_mac(OTHER_MAC):
            return super().recreate(name, **kwargs)


class CreatesInTheSameDC(Lab):
    """Asked for a server in another data center, creates it beside the dead one
    (claim 18)."""

    def create(self, dc, **kwargs):
        return super().create(self.plan.relay.dc, **kwargs)


class RoutesRelayThroughTheRouter(Lab):
    """The relay reaches mx1 through its data center's router instead of the
    switch (claim 17): a host route on the relay, and no ICMP redirect that
    would set it straight."""

    def _start(self):
        super()._start()
        relay, mx1 = self.plan.relay, self.plan.host("mx1")
        router = self.plan.dc(relay.dc)
        r = self.net.get(router.router)
        r.cmd("sysctl -qw net.ipv4.conf.all.send_redirects=0")
        for intf in r.intfNames():
            r.cmd("sysctl -qw net.ipv4.conf.%s.send_redirects=0" % intf.replace(".", "/"))
        h = self.net.get(relay.name)
        h.cmd("sysctl -qw net.ipv4.conf.all.accept_redirects=0")
        h.cmd("ip route replace %s/32 via %s" % (mx1.ip, router.gateway))


class CreatesInTheSameDCAndSaysOther(Lab):
    """Asked for a server in another data center, creates it beside the dead one
    and logs that it created it where it was asked to (claim 18: the address plan
    puts its address in the relay's data center)."""

    def create(self, dc, **kwargs):
        self._said_dc = dc
        return super().create(self.plan.relay.dc, **kwargs)

    def _created(self, info, seconds, action, **extra):
        said = getattr(self, "_said_dc", None)
        if said:
            info = dataclasses.replace(info, dc=said)
        return super()._created(info, seconds, action, **extra)
