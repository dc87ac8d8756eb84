"""maillab's orchestration: networks, services, faults, scenarios, reports."""
