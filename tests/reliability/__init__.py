"""Real-process helpers for the reliability suite: fake platform APIs, signing, server processes."""
