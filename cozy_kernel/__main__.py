"""``python -m cozy_kernel`` runs the ``cozy`` command."""

from cozy_kernel.cli import main

main()
