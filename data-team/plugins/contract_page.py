"""The Contract page plugin: ``/contract/`` in this deployment's API server, and a "Contract" nav entry.

The page and its JSON endpoints live in ``include/housing_data/contract_app.py`` (see its docstring for the
routes and how they require a signed-in user). Airflow imports every plugin in every task process too, so
this file imports nothing but Airflow's plugin base: the FastAPI app is built on the first request.
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/contract"


class ContractPageApp:
    """An ASGI app that builds the Contract page's FastAPI app on its first request, then hands every
    request to it."""

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            from include.housing_data.contract_app import create_app

            self._app = create_app()
        await self._app(scope, receive, send)


class ContractPagePlugin(AirflowPlugin):
    """Mounts the Contract page at ``/contract`` and links it from the navigation bar."""

    name = "contract_page"
    fastapi_apps: ClassVar[list[dict[str, Any]]] = [
        {"app": ContractPageApp(), "url_prefix": URL_PREFIX, "name": "Contract page"}
    ]
    # Rendered inside the Airflow UI (in a frame, at /plugin/contract); the frame loads the page from the
    # same origin, so the UI's session cookie signs it in.
    external_views: ClassVar[list[dict[str, Any]]] = [
        {
            "name": "Contract",
            "href": f"{URL_PREFIX}/",
            "destination": "nav",
            "url_route": "contract",
        }
    ]
