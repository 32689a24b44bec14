"""The data team's producer logic: extract, clean, quarantine and publish California-housing snapshots.

Plain functions over DataFrames, importable and tested without Airflow; the DAG file only wires them.
"""
