"""``python -m housing_stack``: the stack CLI."""

from housing_stack.cli import main

main()
