"""The lake: storage, the snapshot layout, manifests, commit claims, confirmations, retirement records,
publishing and reading snapshots, and the catalog.

Imports only :mod:`housing_contracts.contract` from this package.
"""
