"""The QuickBooks Online connector: ``mapping`` (pure, QuickBooks JSON <-> flexbill's values) and ``client`` (HTTP)."""
