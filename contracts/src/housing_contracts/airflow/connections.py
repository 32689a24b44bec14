"""s3fs storage options from an Airflow ``aws`` connection: for tasks and for the triggerer."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook


def _storage_options(conn: Any) -> dict[str, Any]:
    """s3fs ``storage_options`` from an Airflow ``aws`` connection object."""
    if conn.conn_type != "aws":
        raise ValueError(
            f"connection {conn.conn_id!r} has type {conn.conn_type!r}; expected an 'aws' connection "
            "(login/password = access key/secret, extra endpoint_url and region_name)"
        )
    options: dict[str, Any] = {}
    if conn.login:
        options["key"] = conn.login
    if conn.password:
        options["secret"] = conn.password
    extra = conn.extra_dejson
    client_kwargs = {name: extra[name] for name in ("endpoint_url", "region_name") if extra.get(name)}
    if client_kwargs:
        options["client_kwargs"] = client_kwargs
    return options


def storage_options_from_connection(conn_id: str) -> dict[str, Any]:
    """s3fs ``storage_options`` from the Airflow ``aws`` connection ``conn_id`` (for tasks)."""
    return _storage_options(BaseHook.get_connection(conn_id))


async def astorage_options_from_connection(conn_id: str) -> dict[str, Any]:
    """Async :func:`storage_options_from_connection`, for the triggerer's event loop."""
    return _storage_options(await BaseHook.aget_connection(conn_id))
