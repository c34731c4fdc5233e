"""Connectors shipped with flexbill."""
