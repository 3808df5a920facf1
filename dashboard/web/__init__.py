"""The app's HTTP side: routes beside the Streamlit app, streamed export, signed tokens and
cookies, server-side sessions and the sign-in throttle. No Streamlit widgets here."""
