"""Error rates: per venture over time at the chosen grain, and per stage."""

from dashboard import layout
from dashboard.app_pages import rates

rates(layout.current(), "Error rates", "error_rates", "error_rate")
