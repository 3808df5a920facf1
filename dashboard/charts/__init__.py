"""Pure presentation: query frames to the tables a page shows and the Plotly figures drawn from
them, one module per subject. Nothing here fetches or draws a widget (make lint checks)."""
