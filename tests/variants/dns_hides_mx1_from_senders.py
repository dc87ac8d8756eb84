"""A DNS server that leaves mx1 out of the MX answers it gives the sender site
(10.0.0.0/24), after the first one (the lab's readiness check): mail never
goes straight to the messaging server (claim 1a). The relay, in the data
center, still gets the true answer and delivers."""
from tests.variants import run_dns

SENDER_SITE = "10.0.0."


def patch():
    from servers.dns import server
    real_init, real_handle = server.DNSServer.__init__, server.DNSServer.handle

    def init(self, zones, keys=None, mx_filter=None, *args, **kwargs):
        told = []

        def hide(name, rrs):
            rrs = mx_filter(name, rrs) if mx_filter is not None else rrs
            if getattr(self, "peer", "").startswith(SENDER_SITE):
                if told:
                    rrs = [rr for rr in rrs if not str(rr.rdata.label).startswith("mx1.")]
                told.append(name)
            return rrs
        real_init(self, zones, keys, hide, *args, **kwargs)

    def handle(self, packet, peer_ip, tcp=False):
        self.peer = str(peer_ip)
        return real_handle(self, packet, peer_ip, tcp)
    server.DNSServer.__init__, server.DNSServer.handle = init, handle


if __name__ == "__main__":
    run_dns(patch)
