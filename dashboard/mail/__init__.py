"""What the chairman is told without opening the dashboard: digests, alerts, the board pack.

Composed as the recipient at send time through the same ``queries`` calls as a page, rendered
to an email (HTML, text, PNG charts, CSV) or an A4 PDF, and delivered over SMTP. No Streamlit:
the sender runs in ``orchdash run``'s own process, and the pages call the same functions.
"""
