"""Vendor simulators: executable documentation as ASGI apps with a virtual clock and deviation profiles."""
