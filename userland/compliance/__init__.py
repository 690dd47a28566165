"""Compliance and risk: the checks every inbound payment or order passes."""
