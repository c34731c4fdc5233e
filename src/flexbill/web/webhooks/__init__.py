"""Inbound webhooks: accounting systems (and later gateways) telling flexbill that something changed."""
