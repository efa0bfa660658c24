"""Laptop side of the device link: storage, transports, the sync loop, commands."""
