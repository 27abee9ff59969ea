"""Partners, their subscriptions, personnel, API keys and tenant groups."""
