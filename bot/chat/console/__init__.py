"""The terminal chat: the embedded default, and a way to script or rehearse an incident."""
