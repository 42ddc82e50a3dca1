"""Messages to buyers outside an open tab: the outbox (one row per message, written in the transaction
of the event that causes it), reminders, push subscriptions, and the sender that delivers by email and
web push with retries. A floor between accounts/ and codes/: codes/ and sale/ write to the outbox."""
