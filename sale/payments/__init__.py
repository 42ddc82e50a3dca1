"""Payments: the providers (test, Stripe, Alipay), their signed notices, closing before release,
refunds and reconciliation."""
