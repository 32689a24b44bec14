"""The contract: its released versions, columns and rules (the pandera model), their descriptions and
compatibility, the conversion between majors, fingerprints, validation and the ODCS export.

The bottom layer: it imports nothing else of ``housing_contracts``.
"""
