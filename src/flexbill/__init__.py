"""flexbill: billing for flexible workspaces, and the bridge from that billing to the accounting system."""

__version__ = "0.1.0"
