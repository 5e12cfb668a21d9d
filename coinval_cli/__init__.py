"""The ``coinval`` command: the one place where the packages are composed.

``coinval_cli.main.main`` is the console script; each subcommand's module
imports what it needs when it runs, so ``coinval classify`` never loads the
HTTP service or the simulator.
"""
