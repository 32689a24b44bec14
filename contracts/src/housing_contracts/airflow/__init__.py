"""The Airflow side (extra ``[airflow]``): the dataset's Asset and its watcher's trigger, the receipt
callbacks, and s3fs options from an Airflow connection.

The only part of the package that imports Airflow.
"""
