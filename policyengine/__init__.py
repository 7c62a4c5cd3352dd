"""policyengine: rules and incentives for online communities, compiled from policy files."""
__version__ = "0.1.0"
