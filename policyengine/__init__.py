"""policyengine: rules and incentives for online communities, compiled from policy files."""
__version__ = "0.1.0"


def __getattr__(name):
    # Lazy, so `import policyengine` stays cheap for the CLI.
    if name in ("Engine", "PolicyError", "BadEvent", "Decision", "Event"):
        from policyengine import engine
        return getattr(engine, name)
    if name == "StateFileError":                # a state file Engine.load cannot read: which, and why
        from policyengine.state.sqlite import StateFileError
        return StateFileError
    raise AttributeError(name)


__all__ = ["Engine", "PolicyError", "BadEvent", "Decision", "Event", "StateFileError", "__version__"]
