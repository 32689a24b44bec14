"""The supervisor process of a started stack: ``python -m housing_stack.supervise <state dir>``.

:class:`~housing_stack.stack.Stack` starts it; it rebuilds the stack's components from the config the stack
recorded and runs a :class:`~housing_stack.supervisor.Supervisor` over them. A module of its own, so that
``stack`` imports ``supervisor`` and neither imports the other back.
"""

from __future__ import annotations

import sys
from pathlib import Path

from housing_stack.stack import Stack, StackConfig
from housing_stack.supervisor import Supervisor


def main(argv: list[str] | None = None) -> None:
    state_dir = Path((argv or sys.argv[1:])[0])
    stack = Stack(StackConfig.recorded(state_dir))
    print(f"supervising {', '.join(stack.components)}", flush=True)
    Supervisor(stack.components, state_dir, stack.run_dir).run()


if __name__ == "__main__":
    main()
