"""The social network's HTTP API under /api/v1 (thin routes over the services)."""
