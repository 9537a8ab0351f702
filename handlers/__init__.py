"""Thin adapters between platforms (LINE, Slack, web, ASGI) and the core in ``bot``."""
