"""Accounting sync: the connector port, the sync engine and the connectors."""
