"""The served app: the Streamlit dashboard (app.py) with its HTTP routes beside it.

`streamlit run dashboard/server.py` (what `orchdash run` does) finds ``app`` and serves both in
one process; the session store they share is in PostgreSQL, so any replica serves any session.
"""

import streamlit as st

from dashboard.web import headers, sessions, signing, startup
from dashboard.web.routes import routes

# An owner's URL in the environment or a weak [auth] cookie_secret stops the start first.
startup.exit_if_unsafe()
# Settings are read now, so that a bad ORCHDASH_SECRET_KEY or session length stops the start
# with its message instead of failing the first sign-in.
signing.secret_key()
sessions.store()

app = st.App("app.py", routes=routes(), middleware=headers.middleware())
