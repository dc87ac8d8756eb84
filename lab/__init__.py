"""maillab's orchestration: networks, services, faults, scenarios, reports."""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))   # the repository
