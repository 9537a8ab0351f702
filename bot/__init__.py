"""bansou's platform-neutral core: types, engine, detectors, content, store, planner."""
