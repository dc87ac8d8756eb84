"""Who may look at the live page, and who may act on the lab through it. Pure.

- DNS rebinding: a hostile page under a name of its own (``evil.example``)
  made to resolve to 127.0.0.1 would reach the server with ``Host:
  evil.example``. The server answers only to an IP address or ``localhost``.
- Cross-site requests: an action needs the per-run token that only the page's
  own address carries, a JSON body (which a plain HTML form cannot send
  without a CORS preflight) and, when the browser names it, an Origin equal
  to the page's own.
"""
import hmac
import ipaddress


def _host_name(host_header):
    host = host_header.strip()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def host_allowed(host_header):
    """True if the browser reached us by IP address or as localhost."""
    if not host_header:
        return False
    name = _host_name(host_header)
    if name.lower() == "localhost":
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def action_refusal(token, given_token, host, origin, content_type):
    """Why an action request is refused (None: it may go on). Pure."""
    if not given_token or not hmac.compare_digest(given_token.encode(), token.encode()):
        return "the page's token is missing or wrong"
    if origin is not None and origin != "http://%s" % host:
        return "cross-origin request refused (Origin %s)" % origin
    if not (content_type or "").startswith("application/json"):
        return "actions are JSON (Content-Type: application/json)"
    return None
