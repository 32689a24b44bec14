"""The Contract page through Airflow's real API server app, built in-process from this project's plugins/.

``airflow.api_fastapi.app.create_app()`` with the simple auth manager (the session's user from conftest),
the plugin mounted from ``plugins/`` as the deployment mounts it, and a real SeaweedFS lake: the page
reads as the data-team identity (``lake_s3``), the ML team's records are written with the ml-team identity.
The page shows the newest version (v2) unless ``?major=`` names another; every version's lifecycle is in
its versions table.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from housing_contracts import V1, V2

PROJECT_DIR = Path(__file__).resolve().parents[1]
PAGE = "/contract/"
API_ROUTES = (
    "/contract/api/contract",
    "/contract/api/snapshots",
    "/contract/api/consumers",
    "/contract/api/versions",
)


class Elements(HTMLParser):
    """Every start tag of a page with its attributes, in document order."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def rows(self, **attrs: str) -> list[dict[str, str | None]]:
        """Attributes of the ``<tr>`` elements that carry every ``attrs`` (``data_consumer=`` ...)."""
        wanted = {key.replace("_", "-"): value for key, value in attrs.items()}
        return [
            found
            for tag, found in self.tags
            if tag == "tr" and all(found.get(key) == value for key, value in wanted.items())
        ]


@pytest.fixture
def dataset_v2(dataset: str) -> str:
    """The v2 sibling of this test's dataset: the version the page shows by default."""
    return V2.dataset_uri()


@pytest.fixture(scope="module")
def api_server(airflow_db) -> Iterator[Any]:
    """Airflow's API server app with this project's plugins, as a test client (lifespan run)."""
    from airflow.api_fastapi.app import create_app, purge_cached_app
    from fastapi.testclient import TestClient

    with TestClient(create_app()) as client:
        yield client
    purge_cached_app()


@pytest.fixture(scope="module")
def token(api_server, airflow_user) -> str:
    """A JWT for the deployment's user, obtained as a user or script does: ``POST /auth/token``."""
    username, password = airflow_user
    response = api_server.post("/auth/token", json={"username": username, "password": password})
    assert response.status_code == 201, response.text
    return response.json()["access_token"]


@pytest.fixture
def signed_in(api_server, token) -> Iterator[Any]:
    """The client with the UI's session cookie (``_token``), as a browser signed in to the UI sends it."""
    api_server.cookies.set("_token", token)
    yield api_server
    api_server.cookies.clear()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _foreign_token() -> str:
    """A well-formed token for an admin, signed by another deployment (another secret)."""
    import jwt

    claims = {"sub": "admin", "role": "admin", "aud": "apache-airflow", "exp": 4_000_000_000}
    return jwt.encode(claims, "another deployment's secret, long enough for HS512" * 2, algorithm="HS512")


LOGIN = "/auth/login?next=%2Fcontract%2F"


def _answers(client, headers: dict[str, str] | None = None) -> dict[str, str]:
    """Each route's status (and the page's redirect target) for one kind of visitor."""
    answers = {route: str(client.get(route, headers=headers).status_code) for route in API_ROUTES}
    page = client.get(PAGE, headers=headers, follow_redirects=False)
    answers[PAGE] = f"{page.status_code} -> {page.headers.get('location')}"
    return answers


def test_every_route_refuses_a_visitor_without_a_session(api_server, reliability_row) -> None:
    """Without credentials the JSON routes answer 401 and the page redirects to the login page, which
    comes back to the page after signing in."""
    answers = _answers(api_server)
    reliability_row(
        "Contract page and its JSON without a session",
        "JSON 401; the page redirects to login",
        "; ".join(f"{route} {answer}" for route, answer in answers.items()),
    )
    assert answers == {**dict.fromkeys(API_ROUTES, "401"), PAGE: f"303 -> {LOGIN}"}


def test_every_route_refuses_a_token_of_another_deployment(api_server, reliability_row) -> None:
    """A token this deployment did not sign (header or the UI cookie) is refused: the JSON routes answer
    403 (Airflow's own answer to an invalid JWT), the page redirects to login."""
    answers = _answers(api_server, _bearer(_foreign_token()))
    api_server.cookies.set("_token", _foreign_token())
    page = api_server.get(PAGE, follow_redirects=False)
    api_server.cookies.clear()
    answers[f"{PAGE} (cookie)"] = f"{page.status_code} -> {page.headers.get('location')}"
    reliability_row(
        "Contract page and its JSON with another deployment's token",
        "JSON 403; the page redirects to login",
        "; ".join(f"{route} {answer}" for route, answer in answers.items()),
    )
    assert answers == {
        **dict.fromkeys(API_ROUTES, "403"),
        PAGE: f"303 -> {LOGIN}",
        f"{PAGE} (cookie)": f"303 -> {LOGIN}",
    }


def test_a_user_without_the_right_to_read_assets_is_forbidden(api_server, reliability_row) -> None:
    """A token this deployment signed for a user with no role (no right to read assets): 403 everywhere,
    the page included (signed in, so no redirect)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    no_role = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="visitor", role=None))
    answers = _answers(api_server, _bearer(no_role))
    reliability_row(
        "Contract page and its JSON for a signed-in user without asset access",
        "403 everywhere",
        "; ".join(f"{route} {answer}" for route, answer in answers.items()),
    )
    assert answers == {**dict.fromkeys(API_ROUTES, "403"), PAGE: "403 -> None"}


def test_a_signed_in_user_reads_every_route(signed_in, token, dataset) -> None:
    """With the deployment's token (header for the JSON routes, the UI cookie for the page): 200."""
    page = signed_in.get(PAGE, follow_redirects=False)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for route in API_ROUTES:
        response = signed_in.get(route, headers=_bearer(token))
        assert response.status_code == 200, (route, response.text)


def test_the_nav_bar_links_the_page(api_server, token) -> None:
    """Airflow lists the plugin's app at /contract and its navigation entry pointing at the page."""
    plugins = api_server.get("/api/v2/plugins", headers=_bearer(token)).json()["plugins"]
    (plugin,) = [p for p in plugins if p["name"] == "contract_page"]
    assert plugin["fastapi_apps"][0]["url_prefix"] == "/contract"
    assert plugin["external_views"][0] | {"href": PAGE, "destination": "nav"} == plugin["external_views"][0]


def test_consumers_json_is_consumer_lag(
    api_server, token, dataset_v2, publish_sample, ml_team_records, data_team_s3
) -> None:
    """``/api/consumers`` is ``[row.to_dict() for row in consumer_lag(uri)]`` of the newest version: here
    ml-team one snapshot behind (the lag in time grows between the reads, and only that differs)."""
    from housing_contracts.consumers.lag import consumer_lag

    dataset = dataset_v2
    first = publish_sample(dataset, seed=1, contract=V2)
    ml_team_records.subscribe(dataset, max_lag=timedelta(hours=6))
    ml_team_records.receipt(dataset, first.snapshot_id)
    publish_sample(dataset, seed=2, contract=V2)

    before = [row.to_dict() for row in consumer_lag(dataset, storage_options=data_team_s3.storage_options)]
    response = api_server.get("/contract/api/consumers", headers=_bearer(token))
    after = [row.to_dict() for row in consumer_lag(dataset, storage_options=data_team_s3.storage_options)]

    assert response.status_code == 200
    served = response.json()
    assert [row["consumer"] for row in served] == ["ml-team"]
    assert served[0]["lag_snapshots"] == 1 and served[0]["consumed_snapshot_id"] == first.snapshot_id

    def timeless(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{key: value for key, value in row.items() if key != "lag_seconds"} for row in rows]

    assert timeless(served) == timeless(before) == timeless(after)
    assert before[0]["lag_seconds"] <= served[0]["lag_seconds"] <= after[0]["lag_seconds"]


def test_the_page_lists_consumers_snapshots_and_the_contract(
    signed_in, token, dataset_v2, publish_sample, ml_team_records
) -> None:
    """The page shows ml-team with lag 0 after consuming the newest snapshot, then lag 1 after a new one;
    the snapshots newest first with their per-column stats; the contract's columns and version (v2)."""
    dataset = dataset_v2
    first = publish_sample(dataset, seed=1, contract=V2)
    ml_team_records.subscribe(dataset, max_lag=timedelta(hours=6))
    ml_team_records.receipt(dataset, first.snapshot_id)

    page = Elements(signed_in.get(PAGE).text)
    assert page.rows(data_consumer="ml-team", data_lag_snapshots="0", data_status="ok")

    second = publish_sample(dataset, seed=2, contract=V2)
    page = Elements(signed_in.get(PAGE).text)
    assert page.rows(data_consumer="ml-team", data_lag_snapshots="1", data_breaks_promise="false")
    snapshots = [row["data-snapshot-id"] for row in page.rows() if row.get("data-row-count")]
    assert snapshots == [second.snapshot_id, first.snapshot_id]
    stats = [
        attrs
        for tag, attrs in page.tags
        if tag == "table"
        and attrs.get("class") == "stats"
        and attrs["data-snapshot-id"] == second.snapshot_id
    ]
    assert stats
    assert [row["data-column"] for row in page.rows() if row.get("data-column")] == [*V2.columns] * 3
    assert ("span", {"id": "contract-version"}) in page.tags
    assert f'<span id="contract-version">{V2.version}</span>' in signed_in.get(PAGE).text

    served = signed_in.get("/contract/api/snapshots?limit=1", headers=_bearer(token)).json()
    assert served == [second.to_dict()]


def test_a_corrupt_receipt_is_shown_as_a_problem_and_the_page_still_renders(
    signed_in, token, dataset_v2, publish_sample, ml_team_records, ml_team_s3, reliability_row
) -> None:
    """A receipt that is not JSON is named in the consumer's problems (page and JSON); the rest renders."""
    import fsspec

    from housing_contracts.consumers.records import consumer_uri

    dataset = dataset_v2
    manifest = publish_sample(dataset, contract=V2)
    ml_team_records.subscribe(dataset, max_lag=timedelta(hours=6))
    ml_team_records.receipt(dataset, manifest.snapshot_id)
    corrupt = f"{consumer_uri(dataset, 'ml-team')}/receipts/{manifest.snapshot_id}/0123456789abcdef.json"
    with fsspec.open(corrupt, "wb", **ml_team_s3.storage_options) as file:
        file.write(b"{not json")

    response = signed_in.get(PAGE)
    page = Elements(response.text)
    (served,) = signed_in.get("/contract/api/consumers", headers=_bearer(token)).json()
    reliability_row(
        "corrupt receipt in ml-team's prefix",
        "page renders; the receipt is a problem of ml-team, skipped",
        f"page {response.status_code}; ml-team rows {page.rows(data_consumer='ml-team')}; "
        f"JSON problems {served['problems']}",
    )
    assert response.status_code == 200
    assert page.rows(data_consumer="ml-team", data_status="problems", data_lag_snapshots="0")
    assert "0123456789abcdef.json: not valid JSON" in response.text
    assert page.rows(data_snapshot_id=manifest.snapshot_id)
    assert any("not valid JSON" in problem for problem in served["problems"])


def test_the_page_escapes_what_other_teams_wrote(
    signed_in, dataset_v2, publish_sample, ml_team_records, reliability_row
) -> None:
    """A failure reason holding HTML is shown as text, never as markup."""
    dataset = dataset_v2
    manifest = publish_sample(dataset, contract=V2)
    ml_team_records.subscribe(dataset, max_lag=timedelta(hours=6))
    hostile = '<script>alert("owned")</script><img src=x onerror="alert(1)">'
    ml_team_records.receipt(dataset, manifest.snapshot_id, outcome="failed", reason=hostile)

    html = signed_in.get(PAGE).text
    reliability_row(
        "consumer's failure reason holds HTML (<script>, <img onerror>)",
        "shown escaped on the Contract page",
        f"<script> in page: {'<script>' in html}; <img in page: {'<img' in html}",
    )
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;" in html


def test_the_page_shows_why_the_lake_cannot_be_read(signed_in, dataset, monkeypatch) -> None:
    """Without the lake_s3 connection the page (here v1's) still renders the contract and its deprecation,
    and names what failed."""
    monkeypatch.delenv("AIRFLOW_CONN_LAKE_S3")
    response = signed_in.get(f"{PAGE}?major=1")
    assert response.status_code == 200
    page = Elements(response.text)
    assert ("p", {"class": "error", "id": "consumers-error"}) in page.tags
    assert ("p", {"class": "error", "id": "versions-error"}) in page.tags
    assert re.search(r"could not read the consumers: AirflowNotFoundException: .*lake_s3", response.text)
    assert f'<code id="dataset-uri">{dataset}</code>' in response.text
    assert ("p", {"id": "lifecycle", "data-status": "deprecated"}) in page.tags
    assert page.rows(data_column="MedInc")


def test_the_page_lists_both_versions_and_v1s_deprecation(signed_in, dataset, dataset_v2) -> None:
    """The versions table lists v2 (current, shown) then v1 (deprecated: its sunset and successor)."""
    page = Elements(signed_in.get(PAGE).text)
    versions = [
        (row["data-major"], row["data-status"], row["data-shown"])
        for row in page.rows()
        if "data-major" in row
    ]
    assert versions == [("2", "current", "true"), ("1", "deprecated", "false")]
    html = signed_in.get(PAGE).text
    assert f"<code>{dataset}</code>" in html and f"<code>{dataset_v2}</code>" in html
    assert f"deprecated: sunset {V1.deprecation.sunset.isoformat()}, successor {V2.uri}" in html
    assert 'id="lifecycle"' not in html  # the shown version, v2, is current


def test_the_v1_page_shows_its_contract_and_deprecation(signed_in, token, dataset, publish_sample) -> None:
    """``?major=1`` shows v1: its version, its 1.x columns, its snapshots and a deprecation notice."""
    manifest = publish_sample(dataset)
    response = signed_in.get(f"{PAGE}?major=1")
    page = Elements(response.text)
    assert f'<span id="contract-version">{V1.version}</span>' in response.text
    assert [row["data-column"] for row in page.rows() if row.get("data-column")][: len(V1.columns)] == [
        *V1.columns
    ]
    assert page.rows(data_snapshot_id=manifest.snapshot_id)
    assert ("p", {"id": "lifecycle", "data-status": "deprecated"}) in page.tags
    served = signed_in.get("/contract/api/contract?major=1", headers=_bearer(token)).json()
    assert served["contract"]["version"] == V1.version


def test_a_retired_v1_shows_when_and_by_whom(signed_in, token, dataset, data_team_s3) -> None:
    """Once v1 is retired (no live subscriber here), its row and notice say when and by whom, and its
    JSON carries the record."""
    from housing_contracts.consumers.lifecycle import retire

    record = retire(dataset, by="data-team operator", storage_options=data_team_s3.storage_options)
    response = signed_in.get(f"{PAGE}?major=1")
    page = Elements(response.text)
    assert page.rows(data_major="1", data_status="retired")
    assert ("p", {"id": "lifecycle", "data-status": "retired"}) in page.tags
    retired_at = record.retired_at.isoformat(timespec="seconds")
    assert f"RETIRED at {retired_at} by data-team operator" in response.text
    served = signed_in.get("/contract/api/versions", headers=_bearer(token)).json()
    assert [(v["major"], v["status"]) for v in served] == [(2, "current"), (1, "retired")]
    assert served[1]["retirement"]["retired_by"] == "data-team operator"
    assert served[1]["deprecation"] == V1.deprecation.to_dict()


def test_an_unknown_version_is_not_found(signed_in, token) -> None:
    """``?major=`` naming no released version answers 404 naming the released majors."""
    response = signed_in.get("/contract/api/contract?major=7", headers=_bearer(token))
    assert response.status_code == 404
    assert "major 7" in response.json()["detail"]


def test_loading_the_plugin_imports_nothing_heavy() -> None:
    """Every Airflow process (each task too) imports plugins/: the plugin file loads no FastAPI, pandas or
    pyarrow; the app is built on the first request."""
    heavy = ("fastapi", "pandas", "numpy", "pyarrow", "pandera", "include.housing_data.contract_app")
    probe = (
        "import sys; import airflow.plugins_manager; before = set(sys.modules); "
        f"sys.path[:0] = [{str(PROJECT_DIR / 'plugins')!r}, {str(PROJECT_DIR)!r}]; import contract_page; "
        f"print(sorted(m for m in {heavy!r} if m in sys.modules and m not in before))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_corrupt_and_foreign_manifests_are_listed_as_problems_and_skipped_by_the_lag(
    signed_in, token, dataset_v2, publish_sample, ml_team_records, data_team_s3, reliability_row
) -> None:
    """A newest manifest that is not JSON and an older one of contract 1.1.0 are each listed with why
    readers skip them (page and JSON); the good snapshot renders; ml-team, which consumed it, lags 0."""
    import json

    import fsspec

    from housing_contracts.lake.layout import new_snapshot_id

    dataset = dataset_v2
    good = publish_sample(dataset, seed=1, contract=V2)
    ml_team_records.subscribe(dataset, max_lag=timedelta(hours=6))
    ml_team_records.receipt(dataset, good.snapshot_id)
    foreign, _ = new_snapshot_id(after=good.snapshot_id)
    corrupt, _ = new_snapshot_id(after=foreign)
    manifest_1x = good.to_dict() | {
        "snapshot_id": foreign,
        "contract": {"name": V1.name, "version": V1.version},
    }
    for snapshot_id, body in ((foreign, json.dumps(manifest_1x).encode()), (corrupt, b"{not json")):
        with fsspec.open(
            f"{dataset}/snapshots/{snapshot_id}/_manifest.json", "wb", **data_team_s3.storage_options
        ) as file:
            file.write(body)

    response = signed_in.get(PAGE)
    page = Elements(response.text)
    served = {
        row["snapshot_id"]: row
        for row in signed_in.get("/contract/api/snapshots", headers=_bearer(token)).json()
    }
    (consumer,) = signed_in.get("/contract/api/consumers", headers=_bearer(token)).json()
    reliability_row(
        "Contract page with a corrupt newest manifest and a foreign (1.1.0) one",
        "page renders; both listed with why readers skip them; the consumer of the good one lags 0",
        f"page {response.status_code}; problems {[served[i].get('problem') for i in (corrupt, foreign)]}; "
        f"ml-team lag {consumer['lag_snapshots']}",
    )
    assert response.status_code == 200
    assert page.rows(data_snapshot_id=corrupt, data_status="problems")
    assert page.rows(data_snapshot_id=foreign, data_status="problems")
    assert served[corrupt]["problem"].startswith("skipped by readers: corrupt manifest: not valid JSON")
    assert served[foreign]["problem"] == (
        f"skipped by readers: foreign: written under {V1.name} {V1.version}, in a dataset of {V2.label}"
    )
    assert served[good.snapshot_id] == good.to_dict()
    assert (consumer["lag_snapshots"], consumer["newest_snapshot_id"]) == (0, good.snapshot_id)
