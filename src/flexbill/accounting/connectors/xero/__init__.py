"""The Xero connector: pure mapping (mapping.py) and HTTP (client.py)."""
