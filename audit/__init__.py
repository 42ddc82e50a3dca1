"""The audit log: one append-only entry per operator action (who, what, when, from where, before and
after), written by the acting service in the same transaction as the change it records."""
