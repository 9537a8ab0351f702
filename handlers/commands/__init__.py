"""Sub-commands of ``bansou`` with enough of their own to live apart from ``handlers/cli.py``."""
