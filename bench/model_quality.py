"""The ML team's main model beside its RidgeCV baseline on the real dataset, fixed split.

Runs the teams' own code in a fresh process (``ml-team`` and ``data-team`` on ``sys.path``, as Astro
puts a project root there): the producer's ``extract("sklearn")`` and ``clean``, the ML team's
content-keyed train/test split, its two pipelines fitted one after the other, and its ``score``.
"""

from __future__ import annotations

from bench import worker
from bench.results import Goal, Result, not_measured, progress
from housing_stack.settings import REPO_ROOT

R2_GOAL = Goal(">=", 0.865)
TEAM_DIRS = [REPO_ROOT / "ml-team", REPO_ROOT / "data-team"]
SOURCE = "sklearn"  # the producer's default source: scikit-learn's copy of the census data
BASELINE = "RidgeCV baseline"


def run() -> list[Result]:
    names = ("model: main test_r2", "model: main test_rmse", "model: main fit time")
    progress("model quality: producer extract + clean, ML team split, fit and score (fresh process)")
    try:
        answer = worker.run({"op": "model", "source": SOURCE}, timeout=900, pythonpath=TEAM_DIRS)
    except worker.WorkerError as error:
        return [
            not_measured(names[0], "R²", str(error), R2_GOAL),
            not_measured(names[1], "$100k", str(error)),
            not_measured(names[2], "s", str(error)),
        ]
    main, baseline = answer["main"], answer["baseline"]
    split = (
        f"real data after cleaning ({answer['removed']} rows removed): {answer['train_rows']:,} train / "
        f"{answer['test_rows']:,} test rows, the ML team's content-keyed split"
    )
    return [
        Result(names[0], main["r2"], "R²", BASELINE, baseline["r2"], R2_GOAL, note=split),
        Result(names[1], main["rmse"], "$100k", BASELINE, baseline["rmse"], note=f"MAE {main['mae']:.4f}"),
        Result(names[2], main["fit_s"], "s", BASELINE, baseline["fit_s"], note="training rows only"),
    ]
