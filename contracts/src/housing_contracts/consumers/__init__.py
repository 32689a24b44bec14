"""The consumers: their subscriptions and receipts, their lag, the freshness promises, and the retirement
of a major, which waits for them.

Imports only :mod:`housing_contracts.contract` and :mod:`housing_contracts.lake` from this package.
"""
