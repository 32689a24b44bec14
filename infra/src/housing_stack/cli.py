"""housing-stack up|down|status|logs|env|images|new-consumer: the joint stack, native or docker-compose.

The flavour is --flavour or $STACK (native or docker). ``up`` picks docker when `docker info` answers,
else native, and records what it started; ``down``, ``status`` and ``logs`` default to that record.
The docker flavour runs infra/docker-compose.yml with Docker Compose when a Docker engine answers, else
with podman-compose on Podman, from images ``images`` builds here (infra/containers/).
The native stack's profile is --profile or $PROFILE: embedded (default) or production (always native).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from housing_stack import containers
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


def docker_answers() -> bool:
    """Whether a Docker engine answers ``docker info``."""
    docker = shutil.which("docker")
    return docker is not None and subprocess.run([docker, "info"], capture_output=True).returncode == 0


def compose(*args: str) -> int:
    """Run ``docker compose`` on the stack's compose file with the repository's ``.env``."""
    ensure_env_file(_env_file())
    command = ["docker", "compose", "--env-file", str(_env_file()), "-f", str(COMPOSE_FILE), *args]
    return subprocess.run(command, cwd=REPO_ROOT).returncode


def podman_stack() -> containers.PodmanCompose:
    """The compose stack on Podman, with this command's settings file and state directory."""
    project = os.environ.get("HOUSING_STACK_PROJECT", "housing-handoff")
    return containers.PodmanCompose(_env_file(), _state_dir(), COMPOSE_FILE, project)


def _no_engine() -> None:
    """Without Docker, the docker flavour needs Podman and podman-compose: say which is missing."""
    missing = containers.missing_tools()
    if missing:
        _fail(
            containers.ContainerError(
                "no container engine: `docker info` does not answer and " + "; ".join(missing)
            )
        )


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
    if chosen is Flavour.DOCKER and docker_answers():
        raise typer.Exit(compose("up", "--detach", "--build"))
    if chosen is Flavour.DOCKER:
        _no_engine()
        stack = podman_stack()
        typer.echo(f"starting the compose stack on Podman (project {stack.project}) ...")
        try:
            containers.build_images()
            stack.up(timeout)
        except containers.ContainerError as error:
            _fail(error)
        _print_podman_status(stack)
        return
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
def down(
    flavour: FlavourOption = Flavour.AUTO,
    keep_volumes: Annotated[
        bool, typer.Option(envvar="KEEP_VOLUMES", help="docker flavour: keep the named volumes (data)")
    ] = False,
) -> None:
    """Stop exactly what ``up`` started. The docker flavour removes its containers, pod, network and,
    unless --keep-volumes, its volumes."""
    if resolve_flavour(flavour, _flavour_record(), _profile()) is Flavour.DOCKER:
        if docker_answers():
            raise typer.Exit(compose("down", *([] if keep_volumes else ["--volumes"])))
        _no_engine()
        left = podman_stack().down(keep_volumes)
        if left:
            _fail(containers.ContainerError(f"left behind: {', '.join(left)}"))
        kept = " (volumes kept)" if keep_volumes else ""
        typer.echo(f"compose stack removed: no container, pod or network left{kept}")
        return
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
        name_width = max(14, *(len(name) + 2 for name in summaries))  # a generated team's name is longer
        typer.echo(
            f"\n{'deployment':<{name_width}}{'executor':<34}{'metadata database':<{database_width}}"
            "workers  triggerers"
        )
        for name, summary in summaries.items():
            workers = "-" if summary.workers is None else f"{summary.workers}/{summary.expected_workers}"
            triggerers = f"{summary.triggerers}/{summary.expected_triggerers}"
            typer.echo(
                f"{name:<{name_width}}{summary.executor:<34}{summary.database:<{database_width}}"
                f"{workers:<9}{triggerers}"
            )
    return all(row.healthy for row in rows)


def _print_podman_status(stack: containers.PodmanCompose) -> bool:
    rows = stack.status_rows()
    if not rows:
        typer.echo(f"no container of project {stack.project} exists; run make up STACK=docker")
        return False
    width = max(len(name) for name, _, _ in rows) + 2
    typer.echo(f"{'container':<{width}}{'state':<14}health (published port)")
    for name, state, health in rows:
        colour = typer.colors.RED if "exited (" in state and not state.endswith("(0)") else None
        typer.echo(f"{name:<{width}}" + typer.style(f"{state:<14}", fg=colour) + health)
    return all(health != "not healthy" for _, _, health in rows) and not stack.crashed()


@app.command()
def images(
    image: Annotated[
        list[str] | None,
        typer.Argument(help="project images to build (all if omitted): mlflow, airflow-data, airflow-ml"),
    ] = None,
) -> None:
    """Build on Podman, from Debian's and PyPI's packages, a local stand-in for every image the compose
    file and the Dockerfiles pull (each rebuilt only when its inputs change), then the project's images
    from their own Dockerfiles with ``podman build --from`` the stand-in."""
    started = time.monotonic()
    try:
        containers.build_images(image or None)
    except containers.ContainerError as error:
        _fail(error)
    typer.echo(f"images ready in {time.monotonic() - started:.0f} s")


class Team(StrEnum):
    DATA = "data-team"
    ML = "ml-team"


@app.command("astro-dev")
def astro_dev(
    team: Annotated[Team, typer.Argument(help="the Astro project: data-team or ml-team")],
    timeout: Annotated[float, typer.Option(help="seconds to wait for each container")] = 300.0,
) -> None:
    """One team alone on Podman, as `astro dev start` runs it: the team's image, a PostgreSQL metadata
    database of its own, its airflow_settings.yaml loaded; exit code 1 if a DAG file fails to import."""
    dev = containers.TeamDev(team.value, _env_file())
    try:
        dev.start(timeout)
        dag_ids, errors = dev.parse()
        if errors:
            _fail(containers.ContainerError(f"import errors in {team}: {json.dumps(errors, indent=1)}"))
        listed = dev.wait_for_dags(dag_ids, timeout)
        connections = [row["conn_id"] for row in dev.airflow_json("connections", "list")]
    except containers.ContainerError as error:
        _fail(error)
    typer.echo(f"DAGs parsed with no import error and listed by the deployment: {', '.join(listed)}")
    typer.echo(f"connections: {', '.join(connections)}")
    typer.echo(f"stop it with: make astro-down TEAM={team}")


@app.command("astro-pytest")
def astro_pytest(
    team: Annotated[Team, typer.Argument(help="the Astro project: data-team or ml-team")],
    paths: Annotated[list[str] | None, typer.Argument(help="pytest arguments (default: tests/dags)")] = None,
) -> None:
    """The team's tests inside its own image, as `astro dev pytest` runs them."""
    try:
        raise typer.Exit(containers.TeamDev(team.value, _env_file()).pytest(paths or ["tests/dags"]))
    except containers.ContainerError as error:
        _fail(error)


@app.command("astro-down")
def astro_down(team: Annotated[Team, typer.Argument(help="the Astro project: data-team or ml-team")]) -> None:
    """Remove what astro-dev started for the team (its pod, containers and metadata database)."""
    containers.TeamDev(team.value, _env_file()).stop()
    typer.echo(f"{team}: removed")


@app.command()
def status(flavour: FlavourOption = Flavour.AUTO) -> None:
    """Each component's pid, URL and health, and per deployment its executor, metadata database and live
    workers and triggerers; exit code 1 unless all are healthy."""
    if resolve_flavour(flavour, _flavour_record(), _profile()) is Flavour.DOCKER:
        if docker_answers():
            raise typer.Exit(compose("ps"))
        _no_engine()
        if not _print_podman_status(podman_stack()):
            raise typer.Exit(1)
        return
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
        arguments = ["logs", "--tail", str(lines), *(["-f"] if follow else []), *filter(None, [component])]
        if docker_answers():
            raise typer.Exit(compose(*arguments))
        _no_engine()
        raise typer.Exit(podman_stack().run(*arguments))
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


@app.command("new-consumer")
def new_consumer(
    team: Annotated[
        str, typer.Argument(help="the team's name: its consumer name, S3 identity and deployment")
    ],
    dest: Annotated[
        Path | None, typer.Option(help="the project folder (default .local/teams/<team>, git-ignored)")
    ] = None,
    major: Annotated[
        int | None, typer.Option(help="the contract major it subscribes to (default: the newest live one)")
    ] = None,
    max_lag_hours: Annotated[
        float | None, typer.Option(help="the lag it promises, in hours (default 6)")
    ] = None,
    alert_schedule: Annotated[
        str | None, typer.Option(help="cron (UTC) of its freshness alert (default */30 * * * *)")
    ] = None,
    update: Annotated[
        bool, typer.Option(help="update an existing project with `copier update` (new template, new answers)")
    ] = False,
) -> None:
    """Generate a consuming team's Astro project from infra/templates/consumer-team and register the team:
    its S3 identity (read on its contract major, write on its records and its own prefix), its Airflow
    accounts and its deployment's ports. `up` then starts it beside the other two (native, embedded)."""
    from housing_stack.consumer_template import NewConsumer, NewConsumerRefused, default_dest
    from housing_stack.consumer_template import new_consumer as generate
    from housing_stack.identities import team_identity
    from housing_stack.teams import registry_path

    request = NewConsumer(team, dest or default_dest(team), major, max_lag_hours, alert_schedule, update)
    try:
        made = generate(request)
    except NewConsumerRefused as error:
        _fail(error)
    grants = "; ".join(
        f"{'/'.join(a.value.lower() for a in g.access)} {g.bucket}/{g.prefix}"
        for g in team_identity(made).grants
    )
    typer.echo(
        f"{'updated' if update else 'generated'} {made.name}'s project in {made.project_dir}\n"
        f"registered in {registry_path()}:\n"
        f"  S3 identity {made.name}: {grants}\n"
        f"  Airflow {made.component}: http://127.0.0.1:{made.ports.api} (log servers "
        f"{made.ports.worker_log}, {made.ports.trigger_log}); admin AIRFLOW_{made.env_prefix}_USER, "
        "the data team read-only\n"
        "make up starts it beside the other two (restart a running stack: make down && make up)"
    )


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
