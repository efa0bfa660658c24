"""hipflex: hip-flexion rep and hold counter (host tools)."""

__version__ = "0.1.0"
