"""``python -m coinval_cli``: the ``coinval`` command without the console script."""

from coinval_cli.main import main

raise SystemExit(main())
