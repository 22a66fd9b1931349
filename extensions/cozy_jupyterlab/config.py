"""Server-admin settings of Cozy Notebook, set like any Jupyter setting.

``jupyter_server_config.py``: ``c.CozyNotebook.home = "/srv/cozy/alice"``, or on the command
line ``--CozyNotebook.terms_dir=/etc/family-terms``. Empty means the core's own default
(``COZY_HOME``, the JupyterHub user's home, the platform's data folder; the built-in terms).
"""

from __future__ import annotations

from traitlets import Bool, Float, List, Unicode
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
    allowed_connectors = List(
        Unicode(),
        default_value=[],
        config=True,
        help="The connector ids this server offers (empty: every installed connector). "
        "The others are hidden from every user, in the terms tables too.",
    )
    default_frequency = Unicode(
        "",
        config=True,
        help="How often connectors sync by themselves unless the user chooses: daily, weekly "
        "or off (empty: each connector's own default).",
    )
    scheduled_syncs = Bool(
        True,
        config=True,
        help="Run connectors by themselves in this server at their slot (off: only by hand "
        "or by `cozy sync --all` from cron).",
    )
    schedule_tick = Float(
        60.0,
        config=True,
        help="Seconds between two looks at which connectors are due.",
    )
    day_seconds = Float(
        86400.0,
        config=True,
        help="How long a day lasts for the scheduler; shorter only in tests and demos.",
    )
