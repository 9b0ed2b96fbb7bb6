"""warroom: a chat-ops bot for incidents."""

__version__ = "0.1.0"
