"""Example and library specs, shipped as package data (``importlib.resources``)."""
