"""coinval: the coin validation engine (signature, features, classifier, profile, engine)."""

__version__ = "0.1.0"
