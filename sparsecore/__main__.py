"""``python -m sparsecore`` runs the ``sparsecore`` command (:mod:`sparsecore.cli`)."""

from sparsecore.cli import main

raise SystemExit(main())
