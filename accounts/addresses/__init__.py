"""Shipping addresses of an account: personal data (never in logs, share pages, cards or exports other
than the operator's order export)."""
