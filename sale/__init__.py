"""Drops, inventory, orders and payment."""
