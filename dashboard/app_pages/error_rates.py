"""Error rates: per venture over time at the chosen grain, and per stage."""

from dashboard.app_pages import rates
from dashboard.ui import layout

rates(layout.current(), "Error rates", "error_rates", "error_rate")
