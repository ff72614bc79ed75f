"""Integration with enterprises' own systems: signed outbound webhooks, the events feed
that reconciles them, and API keys for server-to-server calls (docs/integration.md)."""
