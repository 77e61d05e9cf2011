"""Entry point for ``python -m agent`` and the ``devops-agent`` script."""

import gc

from agent import collector

# First, so that the handler that ends the process before the interpreter's teardown runs after any other one.
collector.end_teardown_early()
# Off until the command is known: importing makes no cyclic garbage worth the rescans, and `agent.cli.main` turns the
# collector on for a conversation with the model (agent/collector.py).
gc.disable()

from agent.cli import entry  # noqa: E402

if __name__ == "__main__":
    entry()
