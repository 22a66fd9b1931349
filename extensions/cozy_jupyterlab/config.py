"""Server-admin settings of Cozy Notebook, set like any Jupyter setting.

``jupyter_server_config.py``: ``c.CozyNotebook.home = "/srv/cozy/alice"``, or on the command
line ``--CozyNotebook.terms_dir=/etc/family-terms``. Empty means the core's own default
(``COZY_HOME``, the JupyterHub user's home, the platform's data folder; the built-in terms).
"""

from __future__ import annotations

from traitlets import Unicode
from traitlets.config import Configurable


class CozyNotebook(Configurable):
    home = Unicode(
        "",
        config=True,
        help="The workspace folder holding this user's data (default: the core's choice).",
    )
    terms_dir = Unicode(
        "",
        config=True,
        help="A folder with the operator's terms.en.md (and .es.md, .fr.md) to show instead "
        "of the built-in terms.",
    )
