"""``python -m pyree`` runs the ``pyree`` command line."""

from pyree.cli import main

raise SystemExit(main())
