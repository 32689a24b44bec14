"""The Contract page as one server-rendered HTML document (no scripts, no build step).

Every value is escaped: consumer names, deployments and failure reasons come from other teams' records.
Elements carry stable ids and ``data-*`` attributes for tools and browser tests:

| selector | what |
|---|---|
| ``#contract-version``, ``#dataset-uri``, ``#freshness`` | the header: the version shown |
| ``#lifecycle`` (``data-status``) | the shown version's deprecation and retirement, if any |
| ``table#versions tr[data-major]`` (``data-status``, ``data-shown``) | one released version (**) |
| ``table#consumers tr[data-consumer]`` | one subscribed consumer (*) |
| ``table#snapshots tr[data-snapshot-id]`` (``data-row-count``) | one committed snapshot, newest first |
| ``table.stats[data-snapshot-id] tr[data-column]`` | that snapshot's per-column stats |
| ``table#contract tr[data-column]`` | one contract column |
| ``td[data-field=<key>]`` | a cell, named like the JSON key it shows |
| ``#<section>-error`` | why a section could not be read (``consumers``, ``snapshots``, ``contract``) |

(*) with ``data-lag-snapshots``, ``data-lag-seconds``, ``data-breaks-promise`` (``true``/``false``) and
``data-status`` (``ok``, ``broken``, ``problems``).
(**) ``data-status`` is ``current``, ``deprecated``, ``retired`` or ``unknown`` (its record unreadable);
its ``td[data-field=lifecycle]`` holds ``span[data-field=deprecation]`` (sunset, successor) and
``span[data-field=retirement]`` (retired at … by …) when they apply. The sections below the versions
table are the shown version's (``?major=<n>``, default the newest).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from housing_contracts import Contract
    from housing_contracts.consumers.lag import ConsumerLag
    from include.housing_data.contract_view import SnapshotSummary, VersionStatus

#: pandera check name -> the operator it applies to its one statistic
_OPERATORS = {
    "greater_than": ">",
    "greater_than_or_equal_to": "≥",
    "less_than": "<",
    "less_than_or_equal_to": "≤",
    "equal_to": "=",
    "not_equal_to": "≠",
}

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #1a202c; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
th, td { border: 1px solid #cbd5e0; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #edf2f7; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
table.stats td, table.stats th { border-color: #e2e8f0; font-size: 0.85rem; }
td ul { margin: 0; padding-left: 1.1rem; }
tr[data-status="ok"] td[data-field="status"] { color: #276749; font-weight: 600; }
tr[data-status="broken"] td[data-field="status"] { color: #c53030; font-weight: 600; }
tr[data-status="problems"] td[data-field="status"] { color: #b7791f; font-weight: 600; }
tr[data-shown="true"] { font-weight: 600; }
[data-field="deprecation"], #lifecycle[data-status="deprecated"] { color: #b7791f; }
[data-field="retirement"], #lifecycle[data-status="retired"] { color: #c53030; }
.error { color: #c53030; }
code { font-size: 0.9em; }
"""


def text(value: Any) -> str:
    """``value`` as escaped HTML text (``-`` for None)."""
    return "-" if value is None else escape(str(value), quote=True)


def attribute(value: Any) -> str:
    """``value`` as an escaped, quoted attribute value (booleans in lower case, like JSON)."""
    if isinstance(value, bool):
        value = str(value).lower()
    return '"' + escape("" if value is None else str(value), quote=True) + '"'


def when(value: datetime | str | None) -> str:
    """A ``<time>`` element for a UTC time (ISO string or datetime)."""
    if value is None:
        return "-"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return f"<time datetime={attribute(moment.isoformat())}>{text(f'{moment:%Y-%m-%d %H:%M:%S %Z}')}</time>"


def duration(value: timedelta | None) -> str:
    """``2m 3s`` (the contract package's format), ``-`` for None."""
    from housing_contracts.consumers.lag import format_duration

    return "-" if value is None else text(format_duration(value))


def rule(name: str, check: dict[str, Any]) -> str:
    """One described check as a person reads it: ``> 0``, ``≤ 15.0001``, ``[32, 42]``, or its description."""
    statistics = check.get("statistics") or {}
    if name in _OPERATORS and len(statistics) == 1:
        return f"{_OPERATORS[name]} {next(iter(statistics.values()))}"
    if name == "in_range" and {"min_value", "max_value"} <= set(statistics):
        low = "[" if statistics.get("include_min", True) else "("
        high = "]" if statistics.get("include_max", True) else ")"
        return f"{low}{statistics['min_value']}, {statistics['max_value']}{high}"
    if check.get("description"):
        return str(check["description"])
    arguments = ", ".join(f"{key}={value}" for key, value in statistics.items())
    return f"{name}({arguments})" if arguments else name


def _cell(field: str, content: str, *, number: bool = False) -> str:
    css = ' class="number"' if number else ""
    return f"<td data-field={attribute(field)}{css}>{content}</td>"


def _table(table_id: str, headers: Iterable[str], rows: list[str], empty: str) -> str:
    head = "".join(f"<th>{text(header)}</th>" for header in headers)
    if not rows:
        rows = [f'<tr id="{table_id}-empty"><td colspan="99">{text(empty)}</td></tr>']
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _error(section: str, error: BaseException) -> str:
    return (
        f'<p class="error" id="{section}-error">could not read the {section}: '
        f"{text(type(error).__name__)}: {text(error)}</p>"
    )


_STATUS_TEXT = {"broken": "BROKEN", "problems": "ok (records skipped)", "ok": "ok"}


def consumer_status(row: ConsumerLag) -> str:
    """``broken`` (lag beyond its promise), ``problems`` (records skipped) or ``ok``."""
    if row.breaks_promise:
        return "broken"
    return "problems" if row.problems else "ok"


def consumers_table(rows: list[ConsumerLag]) -> str:
    """One row per subscribed consumer (the rows of ``housing-contract consumers``)."""
    html_rows = []
    for row in rows:
        outcome = text(row.last_outcome or "never consumed")
        if row.last_reason:
            outcome += f': <span data-field="last_reason">{text(row.last_reason)}</span>'
        problems = "".join(f"<li>{text(problem)}</li>" for problem in row.problems)
        html_rows.append(
            f"<tr data-consumer={attribute(row.consumer)}"
            f" data-lag-snapshots={attribute(row.lag_snapshots)}"
            f" data-lag-seconds={attribute(row.lag.total_seconds())}"
            f" data-breaks-promise={attribute(row.breaks_promise)}"
            f" data-status={attribute(consumer_status(row))}>"
            + _cell("consumer", text(row.consumer))
            + _cell("deployment", text(row.deployment))
            + _cell("last_snapshot_id", f"<code>{text(row.last_snapshot_id)}</code>")
            + _cell("last_outcome", outcome)
            + _cell("last_finished_at", when(row.last_finished_at))
            + _cell("consumed_snapshot_id", f"<code>{text(row.consumed_snapshot_id)}</code>")
            + _cell("lag_snapshots", text(row.lag_snapshots), number=True)
            + _cell("lag_seconds", duration(row.lag), number=True)
            + _cell("max_lag_seconds", duration(row.max_lag), number=True)
            + _cell("status", text(_STATUS_TEXT[consumer_status(row)]))
            + _cell("problems", f"<ul>{problems}</ul>" if problems else "-")
            + "</tr>"
        )
    headers = (
        "consumer",
        "deployment",
        "last snapshot",
        "last outcome",
        "finished",
        "consumed up to",
        "lag (snapshots)",
        "lag (time)",
        "promise (max lag)",
        "status",
        "problems (skipped records)",
    )
    return _table("consumers", headers, html_rows, "no consumer subscribes to this dataset")


def _stats_table(snapshot_id: str, stats: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr data-column={attribute(column)}><th>{text(column)}</th>"
        + "".join(_cell(key, text(f"{value:.6g}"), number=True) for key, value in _stat_values(s))
        + "</tr>"
        for column, s in stats.items()
    )
    head = "<tr><th>column</th><th>min</th><th>max</th><th>mean</th><th>nulls</th></tr>"
    return f'<table class="stats" data-snapshot-id={attribute(snapshot_id)}>{head}{rows}</table>'


def _stat_values(stats: Any) -> list[tuple[str, float]]:
    return [("min", stats.min), ("max", stats.max), ("mean", stats.mean), ("null_count", stats.null_count)]


def snapshots_table(snapshots: list[SnapshotSummary]) -> str:
    """The newest snapshots, newest first: id, rows, creation time, producer run, per-column stats."""
    html_rows = []
    for summary in snapshots:
        manifest = summary.manifest
        if manifest is None:
            html_rows.append(
                f'<tr data-snapshot-id={attribute(summary.snapshot_id)} data-status="problems">'
                + _cell("snapshot_id", f"<code>{text(summary.snapshot_id)}</code>")
                + f'<td colspan="4" data-field="problem" class="error">{text(summary.problem)}</td></tr>'
            )
            continue
        producer = " / ".join(
            str(manifest.producer[key]) for key in ("dag_id", "run_id") if key in manifest.producer
        )
        html_rows.append(
            f"<tr data-snapshot-id={attribute(manifest.snapshot_id)}"
            f" data-row-count={attribute(manifest.row_count)}>"
            + _cell("snapshot_id", f"<code>{text(manifest.snapshot_id)}</code>")
            + _cell("row_count", text(f"{manifest.row_count:,}"), number=True)
            + _cell("created_at", when(manifest.created_at))
            + _cell("producer", text(producer or None))
            + _cell("stats", _stats_table(manifest.snapshot_id, manifest.stats))
            + "</tr>"
        )
    headers = ("snapshot", "rows", "created", "producer run", "per-column stats")
    return _table("snapshots", headers, html_rows, "no snapshot has been published yet")


def contract_table(description: dict[str, Any]) -> str:
    """The contract's columns: dtype, nullable, rules, description; then the table-wide checks."""
    html_rows = [
        f"<tr data-column={attribute(name)}>"
        + _cell("column", f"<code>{text(name)}</code>")
        + _cell("dtype", text(column.get("dtype")))
        + _cell("nullable", text("yes" if column.get("nullable") else "no"))
        + _cell(
            "rules",
            "<ul>"
            + "".join(
                f"<li>{text(rule(check_name, check))}</li>"
                for check_name, check in column.get("checks", {}).items()
            )
            + "</ul>",
        )
        + _cell("description", text(column.get("description")))
        + "</tr>"
        for name, column in description.get("columns", {}).items()
    ]
    table = _table(
        "contract", ("column", "dtype", "nullable", "rules", "description"), html_rows, "no columns"
    )
    checks = "".join(
        f"<li data-check={attribute(name)}>{text(rule(name, check))}</li>"
        for name, check in description.get("dataframe_checks", {}).items()
    )
    return table + (
        f'<p>Every snapshot also satisfies:</p><ul id="dataframe-checks">{checks}</ul>' if checks else ""
    )


def lifecycle(status: VersionStatus) -> str:
    """The version's place in its life: ``current``, or its deprecation and, once retired, its retirement."""
    deprecation = status.contract.deprecation
    parts = [f'<span data-field="deprecation">{text(deprecation.text())}</span>'] if deprecation else []
    if status.retirement is not None:
        parts.append(f'<span data-field="retirement">{text(status.retirement.text())}</span>')
    if status.problem is not None:
        parts.append(f'<span class="error" data-field="problem">{text(status.problem)}</span>')
    return "<br>".join(parts) or "current"


def versions_table(versions: list[VersionStatus], shown: Contract) -> str:
    """Every released version, newest first: a link to its sections, its dataset, its lifecycle."""
    html_rows = [
        f"<tr data-major={attribute(status.contract.major)} data-status={attribute(status.status)}"
        f" data-shown={attribute(status.contract.major == shown.major)}>"
        + _cell(
            "version",
            f'<a href="?major={status.contract.major}">{text(status.contract.version)}</a>',
        )
        + _cell("dataset_uri", f"<code>{text(status.dataset_uri)}</code>")
        + _cell("asset_name", f"<code>{text(status.contract.asset_name)}</code>")
        + _cell("lifecycle", lifecycle(status))
        + "</tr>"
        for status in versions
    ]
    return _table("versions", ("version", "dataset", "Asset", "lifecycle"), html_rows, "no released version")


def _shown_lifecycle(shown: Contract, versions: list[VersionStatus] | BaseException) -> str:
    """A notice under the header when the shown version is deprecated or retired."""
    from include.housing_data.contract_view import VersionStatus

    known = [] if isinstance(versions, BaseException) else versions
    # without the lake, the deprecation (in code) still shows
    status = next(
        (s for s in known if s.contract.major == shown.major), VersionStatus(shown, shown.dataset_uri())
    )
    if status.status == "current":
        return ""
    return f'<p id="lifecycle" data-status={attribute(status.status)}>{lifecycle(status)}</p>'


def render_page(
    *,
    shown: Contract,
    dataset_uri: str,
    now: datetime,
    versions: list[VersionStatus] | BaseException,
    contract: dict[str, Any] | BaseException,
    snapshots: list[SnapshotSummary] | BaseException,
    consumers: list[ConsumerLag] | BaseException,
) -> str:
    """The whole page for the ``shown`` version; a section whose read failed shows the error instead (the
    others still render)."""
    if isinstance(contract, BaseException):
        title, header = f"Contract {shown.label}", _error("contract", contract)
    else:
        name, version = contract["contract"]["name"], contract["contract"]["version"]
        title = f"Contract {name} {version}"
        freshness = contract.get("freshness") or {}
        header = (
            f'<h1>Contract <span id="contract-name">{text(name)}</span> '
            f'<span id="contract-version">{text(version)}</span></h1>'
            f"<p>{text(contract.get('description'))}</p>"
            + (
                f'<p id="freshness" data-max-snapshot-interval-hours='
                f"{attribute(freshness.get('max_snapshot_interval_hours'))}>"
                f"<strong>Freshness promise:</strong> {text(freshness.get('description'))}</p>"
                if freshness
                else '<p id="freshness">The contract makes no freshness promise.</p>'
            )
        )
    sections = {
        "versions": ("Released versions", versions, lambda found: versions_table(found, shown)),
        "consumers": ("Subscribed consumers", consumers, consumers_table),
        "snapshots": ("Newest snapshots", snapshots, snapshots_table),
        "contract": ("Columns and rules", contract, contract_table),
    }
    body = "".join(
        f'<section id="{key}-section"><h2>{text(heading)}</h2>'
        + (_error(key, value) if isinstance(value, BaseException) else render(value))
        + "</section>"
        for key, (heading, value, render) in sections.items()
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{text(title)}</title><style>{_STYLE}</style></head><body>"
        f"<header>{header}{_shown_lifecycle(shown, versions)}"
        f'<p>Dataset <code id="dataset-uri">{text(dataset_uri)}</code>, read live from the lake at '
        f"{when(now)}. As JSON: "
        + " · ".join(
            f'<a href="api/{route}?major={shown.major}">{route}</a>'
            for route in ("contract", "snapshots", "consumers")
        )
        + ' · <a href="api/versions">versions</a>.</p></header>'
        f"{body}</body></html>"
    )
