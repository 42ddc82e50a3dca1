"""The demo store a newcomer's first `flashsale serve` seeds (embedded defaults, empty database)."""
