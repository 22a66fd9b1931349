# The operator's choices for every user's server; put it in /etc/jupyter/ (or the image's
# <prefix>/etc/jupyter/). Each user still accepts the terms and grants connectors themselves.
c = get_config()  # noqa: F821

# Your own terms and privacy notice (terms.en.md, and .es.md / .fr.md), with your identity as
# the controller in their front matter: controller, contact, email, address, jurisdiction.
c.CozyNotebook.terms_dir = "/etc/cozy-notebook/terms"

# Offer only these connectors (empty: every installed one).
c.CozyNotebook.allowed_connectors = ["demo-bank", "gocardless", "ofx", "qif", "csv", "camt"]

# Connectors sync by themselves daily unless the user chooses otherwise; each user's
# connectors run at their own random time of day, which spreads the load on the server.
c.CozyNotebook.default_frequency = "daily"
c.CozyNotebook.scheduled_syncs = True
