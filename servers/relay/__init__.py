"""The backup relay: inbound SMTP for its relay domains, a durable queue,
and the scheduler that delivers, retries and re-routes."""
