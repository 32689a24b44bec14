"""housing-stack up|down|status|logs|env: the joint stack, native or docker-compose.

The flavour is --flavour or $STACK (native or docker). ``up`` picks docker when `docker info` answers,
else native, and records what it started; ``down``, ``status`` and ``logs`` default to that record.
The native stack's profile is --profile or $PROFILE: embedded (default) or production (always native).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from housing_stack.identities import write_minio_policies
from housing_stack.process import ServerProcess, StackError
from housing_stack.settings import ENV_PATH, LOCAL_DIR, REPO_ROOT, ensure_env_file
from housing_stack.stack import (
    COMPONENTS,
    START_TIMEOUT,
    Profile,
    Stack,
    StackConfig,
    export_lines,
    profile_state_dir,
)

COMPOSE_FILE = REPO_ROOT / "infra" / "docker-compose.yml"
MINIO_POLICY_DIR = REPO_ROOT / "infra" / "minio" / "policies"

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
#: Where the native stack's settings and state live, and its profile; options of the app so tests can
#: point them elsewhere.
_options_given: dict[str, object] = {
    "env_file": ENV_PATH,
    "state_dir": LOCAL_DIR,
    "profile": Profile.EMBEDDED,
}


@app.callback()
def _options(
    env_file: Annotated[Path, typer.Option(envvar="HOUSING_STACK_ENV_FILE", help="settings file")] = ENV_PATH,
    state_dir: Annotated[
        Path, typer.Option(envvar="HOUSING_STACK_STATE_DIR", help="state, logs and pid files")
    ] = LOCAL_DIR,
    profile: Annotated[
        Profile, typer.Option(envvar="PROFILE", help="embedded (airflow standalone) or production")
    ] = Profile.EMBEDDED,
) -> None:
    _options_given.update(env_file=env_file, state_dir=state_dir, profile=profile)


def _env_file() -> Path:
    return Path(str(_options_given["env_file"]))


def _state_dir() -> Path:
    return Path(str(_options_given["state_dir"]))


def _profile() -> Profile:
    return Profile(str(_options_given["profile"]))


def _stack() -> Stack:
    """The native stack of the chosen profile; StackError (a missing server binary) ends the command."""
    try:
        return Stack(StackConfig.local(_env_file(), _state_dir(), _profile()))
    except StackError as error:
        _fail(error)
        raise


class Flavour(StrEnum):
    AUTO = "auto"
    NATIVE = "native"
    DOCKER = "docker"


def _flavour_record() -> Path:
    """Which flavour ``up`` started last (so ``down`` after a native demo never runs docker compose)."""
    return _state_dir() / "flavour"


def resolve_flavour(
    flavour: Flavour, recorded: Path | None = None, profile: Profile = Profile.EMBEDDED
) -> Flavour:
    """``auto`` becomes what ``recorded`` names if given and present, else docker when a Docker engine
    answers, else native. The production profile is native only."""
    if flavour is not Flavour.AUTO:
        return flavour
    if profile is Profile.PRODUCTION:
        return Flavour.NATIVE
    if recorded is not None and recorded.is_file():
        return Flavour(recorded.read_text().strip())
    docker = shutil.which("docker")
    answers = docker is not None and subprocess.run([docker, "info"], capture_output=True).returncode == 0
    return Flavour.DOCKER if answers else Flavour.NATIVE


def compose(*args: str) -> int:
    """Run ``docker compose`` on the stack's compose file with the repository's ``.env``."""
    ensure_env_file(_env_file())
    command = ["docker", "compose", "--env-file", str(_env_file()), "-f", str(COMPOSE_FILE), *args]
    return subprocess.run(command, cwd=REPO_ROOT).returncode


FlavourOption = Annotated[
    Flavour,
    typer.Option(
        "--flavour", envvar="STACK", help="native, docker, or auto (what up started; docker if it answers)"
    ),
]


def _fail(error: Exception) -> None:
    typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


@app.command()
def up(
    flavour: FlavourOption = Flavour.AUTO,
    timeout: Annotated[float, typer.Option(help="seconds to wait for each component")] = START_TIMEOUT,
) -> None:
    """Start the stack (what already runs is left alone) and wait until every component is healthy."""
    chosen = resolve_flavour(flavour, profile=_profile())
    _flavour_record().parent.mkdir(parents=True, exist_ok=True)
    _flavour_record().write_text(chosen.value + "\n")
    if chosen is Flavour.DOCKER:
        raise typer.Exit(compose("up", "--detach", "--build"))
    stack = _stack()
    typer.echo(
        f"starting the native stack, profile {stack.config.profile} "
        f"(state and logs in {stack.config.state_dir}) ..."
    )
    try:
        stack.up(timeout)
    except StackError as error:
        _fail(error)
    _print_status(stack)


@app.command()
def down(flavour: FlavourOption = Flavour.AUTO) -> None:
    """Stop exactly what ``up`` started."""
    if resolve_flavour(flavour, _flavour_record(), _profile()) is Flavour.DOCKER:
        raise typer.Exit(compose("down"))
    try:
        _stack().down()
    except StackError as error:
        _fail(error)
    typer.echo(f"stack stopped (profile {_profile()})")
    for other in Profile:
        run_dir = profile_state_dir(_state_dir(), other) / "run"
        pid_files = run_dir.glob("*.pid") if other is not _profile() else []
        if any(ServerProcess(p.stem, [], p.with_suffix(".log"), pid_path=p).is_running() for p in pid_files):
            typer.echo(f"the {other} profile still runs: make down PROFILE={other}")


def _print_status(stack: Stack) -> bool:
    rows = stack.status()
    width = max(len(row.name) for row in rows) + 2
    typer.echo(f"{'component':<{width}}{'pid':>8}  {'url':<42}{'state'}")
    for row in rows:
        state = "healthy" if row.healthy else ("running, not healthy" if row.pid else "stopped")
        colour = typer.colors.GREEN if row.healthy else typer.colors.RED
        pid = str(row.pid) if row.pid else "-"
        typer.echo(f"{row.name:<{width}}{pid:>8}  {row.url:<42}" + typer.style(state, fg=colour))
    if any(row.pid for row in rows):
        summaries = stack.summaries()
        database_width = max(len(summary.database) for summary in summaries.values()) + 2
        typer.echo(
            f"\n{'deployment':<14}{'executor':<34}{'metadata database':<{database_width}}workers  triggerers"
        )
        for name, summary in summaries.items():
            workers = "-" if summary.workers is None else f"{summary.workers}/{summary.expected_workers}"
            triggerers = f"{summary.triggerers}/{summary.expected_triggerers}"
            typer.echo(
                f"{name:<14}{summary.executor:<34}{summary.database:<{database_width}}{workers:<9}{triggerers}"
            )
    return all(row.healthy for row in rows)


@app.command()
def status(flavour: FlavourOption = Flavour.AUTO) -> None:
    """Each component's pid, URL and health, and per deployment its executor, metadata database and live
    workers and triggerers; exit code 1 unless all are healthy."""
    if resolve_flavour(flavour, _flavour_record(), _profile()) is Flavour.DOCKER:
        raise typer.Exit(compose("ps"))
    if not _print_status(_stack()):
        raise typer.Exit(1)


@app.command()
def logs(
    component: Annotated[
        str | None,
        typer.Argument(
            help=f"one of {', '.join(COMPONENTS)} or another component's name or prefix; all if omitted"
        ),
    ] = None,
    lines: Annotated[int, typer.Option("--lines", "-n")] = 40,
    follow: Annotated[bool, typer.Option("--follow", "-f")] = False,
    flavour: FlavourOption = Flavour.AUTO,
) -> None:
    """The tail of every component's log (or of the components a name or prefix selects)."""
    if resolve_flavour(flavour, _flavour_record(), _profile()) is Flavour.DOCKER:
        raise typer.Exit(
            compose("logs", "--tail", str(lines), *(["-f"] if follow else []), *filter(None, [component]))
        )
    stack = _stack()
    try:
        paths = [str(path) for path in stack.log_paths(component) if path.exists()]
    except KeyError as error:
        _fail(error)
    if not paths:
        _fail(StackError(f"no logs yet under {stack.logs_dir}; run make up"))
    os.execvp("tail", ["tail", f"-n{lines}", *(["-F"] if follow else []), *paths])


@app.command()
def env() -> None:
    """``export`` lines for the running stack: endpoints, keys, Airflow user (``eval "$(make -s env)"``)."""
    typer.echo(export_lines(_stack().env()))


@app.command("render-minio-policies")
def render_minio_policies(
    directory: Annotated[Path, typer.Argument(help="where the policy files go")] = MINIO_POLICY_DIR,
) -> None:
    """Write each team's IAM-style policy (from identities.py) for a MinIO or AWS S3 deployment."""
    for path in write_minio_policies(directory):
        typer.echo(f"wrote {path}")


@app.command("render-s3-identities")
def render_s3_identities() -> None:
    """Print the SeaweedFS identities with ${...} references to .env (docker-compose's s3-identities)."""
    import json

    from housing_stack.identities import IDENTITIES, Credentials, seaweedfs_config

    # docker compose substitutes the references from .env, so the committed compose file holds no key
    references = {
        i.name: Credentials(f"${{{i.access_key_var}}}", f"${{{i.secret_key_var}}}") for i in IDENTITIES
    }
    typer.echo(json.dumps(seaweedfs_config(references), indent=2))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
