"""Give the runtime a sender for each channel that is on, so reminders and retries can push."""
from __future__ import annotations

import importlib

from bot.runtime import Runtime

SENDER_MODULES = ("handlers.web", "handlers.line", "handlers.slack")


def install_senders(runtime: Runtime) -> None:
    """Fill ``runtime.senders`` from each adapter's ``build_sender(runtime)`` (None when off)."""
    for name in SENDER_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        build = getattr(module, "build_sender", None)
        sender = build(runtime) if build is not None else None
        if sender is not None:
            runtime.senders[sender.platform] = sender
