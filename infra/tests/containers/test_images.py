"""The local images: a failed build names the image and the step; the Astro-compatible base keeps the
contract the team Dockerfiles rely on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from housing_stack.containers import ContainerError, Image, base_images, build_base, podman, project_images


def test_a_failed_build_names_the_image_and_the_step(tmp_path: Path) -> None:
    """A RUN that fails is reported with the image's name, the failing step and its output."""
    (tmp_path / "Dockerfile").write_text(
        "ARG PARENT\nFROM ${PARENT}\nRUN echo ready\nRUN echo cause-$((6 + 1)) >&2; exit 7\n"
    )
    broken = Image("broken-test", tmp_path, "a test image", parents={"PARENT": "debian"})
    images = {**base_images(), broken.key: broken}
    with pytest.raises(ContainerError) as failure:
        build_base(broken, "0", images, tmp_path / "build.log", lambda _: None)
    message = str(failure.value)
    assert broken.name in message
    assert re.search(r"STEP \d+/\d+: RUN echo cause-\$\(\(6 \+ 1\)\)", message)
    assert "cause-7" in message  # the step's own output, in the tail of the log


@pytest.mark.parametrize("key", ["airflow-data", "airflow-ml"])
def test_team_images_keep_the_astro_runtime_contract(key: str) -> None:
    """Each team image runs as astro (uid 50000) in /usr/local/airflow with the project copied in by the
    ONBUILD steps and the contracts wheel installed by the team's own Dockerfile step."""
    image = project_images()[key].name
    script = (
        "id -u; pwd; echo $AIRFLOW_HOME; test -f dags/.airflowignore -o -d dags && echo dags; "
        "python -c 'import housing_contracts, airflow; print(airflow.__version__)'"
    )
    result = podman("run", "--rm", "--entrypoint", "bash", image, "-c", script)
    assert result.stdout.split() == ["50000", "/usr/local/airflow", "/usr/local/airflow", "dags", "3.3.2"]
