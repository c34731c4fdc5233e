"""Outgoing webhooks: the events flexbill publishes to integrators, and their signed delivery."""
