"""Entry of the dashboard: page config, the sign-in gate, then the signed-in layout."""

import streamlit as st

from dashboard.mail import smtp
from dashboard.ui import auth, layout

st.set_page_config(
    page_title="Orchestration metrics",
    layout="wide",
)
user = auth.require_user()
layout.main(user, email=smtp.configured())
