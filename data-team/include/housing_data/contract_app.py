"""The Contract page's FastAPI app, which ``plugins/contract_page.py`` mounts at ``/contract``.

| route (under the mount) | answers |
|---|---|
| ``GET /?major=2`` | the page (HTML): each version's lifecycle; one version's consumers, snapshots, rules |
| ``GET /api/versions`` | every released version, newest first: URIs, status, deprecation, retirement |
| ``GET /api/contract?major=2`` | the version's live description (``housing-contract describe``) |
| ``GET /api/snapshots?major=2&limit=10`` | its newest committed snapshots' manifests, newest first |
| ``GET /api/consumers?major=2`` | ``[row.to_dict() for row in consumer_lag(uri)]``, as ``consumers --json`` |

``major`` defaults to the newest version (the one consumers should read); an unknown one answers 404.
Everything is read live from the lake with this deployment's connection ``lake_s3``.

A route a plugin adds is not behind Airflow's login on its own, so every route here depends on
:func:`api_reader` or :func:`page_reader`: the user must be signed in to this deployment, with the JWT that
Airflow's own API accepts (``Authorization: Bearer`` or the UI's ``_token`` cookie, checked by Airflow's
``get_user``), and be allowed to read assets by the deployment's auth manager. Without a valid session the
JSON routes answer 401 (no token) or 403 (invalid token, or no right to read assets) and the page redirects
to the auth manager's login page, which comes back here after signing in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse

from housing_contracts import Contract
from include.housing_data import contract_view
from include.housing_data.connections import lake_storage_options
from include.housing_data.contract_html import render_page

log = logging.getLogger(__name__)


T = TypeVar("T")


class LoginRequired(Exception):
    """The page was opened without a valid session of this deployment."""


async def _signed_in_user(request: Request) -> Any:
    """The user whose token (header or ``_token`` cookie) this deployment issued; HTTPException otherwise."""
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

    return await get_user(request, None, await bearer_scheme(request))


def _may_read_assets(request: Request, user: Any) -> None:
    """HTTPException 403 unless the auth manager lets ``user`` read assets (the dataset is one)."""
    from airflow.api_fastapi.core_api.security import requires_access_asset

    requires_access_asset("GET")(request, user)


async def api_reader(request: Request) -> Any:
    """Dependency of the JSON routes: a signed-in user allowed to read assets, else 401/403."""
    user = await _signed_in_user(request)
    _may_read_assets(request, user)
    return user


async def page_reader(request: Request) -> Any:
    """Dependency of the page: like :func:`api_reader`, but a missing or invalid session goes to login."""
    try:
        user = await _signed_in_user(request)
    except HTTPException as err:
        raise LoginRequired from err
    _may_read_assets(request, user)
    return user


def _to_login(request: Request, _: Exception) -> RedirectResponse:
    from airflow.api_fastapi.app import get_auth_manager

    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(get_auth_manager().get_url_login(next_url=here), status.HTTP_303_SEE_OTHER)


def _read(what: str, read: Callable[[], T]) -> T:
    """``read()``, or 502 naming what could not be read from the lake and why."""
    try:
        return read()
    except Exception as err:
        log.exception("could not read the %s", what)
        raise HTTPException(
            status.HTTP_502_BAD_GATEWAY, f"could not read the {what}: {type(err).__name__}: {err}"
        ) from err


def _attempt(what: str, read: Callable[[], T]) -> T | Exception:
    """``read()``, or the exception it raised (the page shows it in that section and renders the rest)."""
    try:
        return read()
    except Exception as err:
        log.exception("could not read the %s", what)
        return err


def chosen_version(major: int | None = Query(None, ge=0, description="default: the newest")) -> Contract:
    """Dependency: the released version the request names by ``major``, else 404."""
    try:
        return contract_view.version(major)
    except KeyError as err:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(err.args[0])) from err


#: An endpoint's parameter: the version named by ``?major=``.
Shown = Annotated[Contract, Depends(chosen_version)]


def create_app() -> FastAPI:
    """The app: the page and its JSON endpoints, each behind Airflow's authentication."""
    app = FastAPI(title="Contract page", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_exception_handler(LoginRequired, _to_login)

    @app.get("/", response_class=HTMLResponse, dependencies=[Depends(page_reader)])
    def page(shown: Shown) -> HTMLResponse:
        """The page; a section that cannot be read shows why, the others still render."""
        from housing_contracts.consumers.lag import consumer_lag

        now, uri = datetime.now(UTC), shown.dataset_uri()
        options = _attempt("lake_s3 connection", lake_storage_options)
        if isinstance(options, Exception):
            versions = snapshots = consumers = options
        else:
            versions = _attempt("versions", lambda: contract_view.versions(storage_options=options))
            snapshots = _attempt(
                "snapshots", lambda: contract_view.newest_snapshots(uri, storage_options=options)
            )
            consumers = _attempt("consumers", lambda: consumer_lag(uri, now=now, storage_options=options))
        html = render_page(
            shown=shown,
            dataset_uri=uri,
            now=now,
            versions=versions,
            contract=_attempt("contract", lambda: contract_view.contract(shown)),
            snapshots=snapshots,
            consumers=consumers,
        )
        return HTMLResponse(html)

    @app.get("/api/versions", dependencies=[Depends(api_reader)])
    def versions() -> list[dict[str, Any]]:
        """Every released version, newest first, with its lifecycle."""
        options = _read("lake_s3 connection", lake_storage_options)
        return [
            status.to_dict()
            for status in _read("versions", lambda: contract_view.versions(storage_options=options))
        ]

    @app.get("/api/contract", dependencies=[Depends(api_reader)])
    def contract(shown: Shown) -> dict[str, Any]:
        """The version's live description."""
        return _read("contract", lambda: contract_view.contract(shown))

    @app.get("/api/snapshots", dependencies=[Depends(api_reader)])
    def snapshots(
        shown: Shown,
        limit: int = Query(contract_view.NEWEST_SNAPSHOTS, ge=1, le=1000),
    ) -> list[dict[str, Any]]:
        """The version's newest committed snapshots' manifests, newest first (a broken one: its problem)."""
        uri, options = shown.dataset_uri(), _read("lake_s3 connection", lake_storage_options)
        found = _read(
            "snapshots", lambda: contract_view.newest_snapshots(uri, limit=limit, storage_options=options)
        )
        return [summary.to_dict() for summary in found]

    @app.get("/api/consumers", dependencies=[Depends(api_reader)])
    def consumers(shown: Shown) -> list[dict[str, Any]]:
        """Exactly ``housing-contract consumers URI --json`` for the version's dataset."""
        from housing_contracts.consumers.lag import consumer_lag

        uri, options = shown.dataset_uri(), _read("lake_s3 connection", lake_storage_options)
        return [
            row.to_dict() for row in _read("consumers", lambda: consumer_lag(uri, storage_options=options))
        ]

    return app
