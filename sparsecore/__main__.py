"""``python -m sparsecore`` runs the ``sparsecore`` command (:mod:`sparsecore.cli`)."""

from sparsecore.cli import main

__all__: list[str] = []

# The guard matters: worker processes started with "spawn" (sparsecore sweep)
# import the main module again, and must not run the command a second time.
if __name__ == "__main__":
    raise SystemExit(main())
