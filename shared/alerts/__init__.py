"""Alerts: rules that turn recorded events into alerts, partners' subscriptions, outbound delivery."""
