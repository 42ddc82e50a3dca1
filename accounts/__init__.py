"""Floor 1: accounts, passwords, roles."""
