"""The Streamlit side around the pages: the sign-in gate, the layout and navigation, the sidebar
filters and their URL, and the cached data loads. Pages read a :class:`dashboard.ui.layout.View`."""
