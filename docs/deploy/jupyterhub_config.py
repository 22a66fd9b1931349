# A single machine: JupyterHub with each person's own Unix account, so that their workspaces
# (~/.cozy, mode 0700) are protected by the operating system, not only by the hub.
c = get_config()  # noqa: F821

c.JupyterHub.bind_url = "http://127.0.0.1:8000"  # behind your TLS reverse proxy
c.JupyterHub.authenticator_class = "pam"  # the machine's own accounts and passwords
c.Authenticator.allowed_users = {"alice", "bob"}
c.Authenticator.admin_users = {"alice"}

# Every user's server runs as that user, from the environment Cozy Notebook is installed in.
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = ["/opt/cozy/bin/jupyterhub-singleuser"]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
# Headless servers have no desktop keyring: secrets go to an encrypted file in the user's
# home, unlocked by a passphrase the operator keeps out of the users' reach.
c.Spawner.environment = {
    "COZY_KEYRING_FILE": "~/.cozy-keyring/secrets.cfg",
}

# Stop idle servers after an hour; scheduled syncs then run from cron (`cozy sync --all`).
c.JupyterHub.services = [
    {
        "name": "idle-culler",
        "command": ["python3", "-m", "jupyterhub_idle_culler", "--timeout=3600"],
    }
]
c.JupyterHub.load_roles = [
    {
        "name": "idle-culler",
        "services": ["idle-culler"],
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
    }
]
