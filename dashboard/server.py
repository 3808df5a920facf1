"""The served app: the Streamlit dashboard (app.py) with its HTTP routes beside it.

`streamlit run dashboard/server.py` (what `orchdash run` does) finds ``app`` and serves both in
one process, so the routes and the script runs share the session store in memory.
"""

import streamlit as st

from dashboard.routes import routes

app = st.App("app.py", routes=routes())
