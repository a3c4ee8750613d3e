"""metadir: a virtual directory for telephony."""

__version__ = "0.1.0"
