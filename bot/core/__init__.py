"""The incident domain. Imports no chat platform, storage or scheduling library."""
