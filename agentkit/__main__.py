"""``python -m agentkit``: the ``agentkit`` command."""

from .cli import main

raise SystemExit(main())
