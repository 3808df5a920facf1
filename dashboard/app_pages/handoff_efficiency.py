"""Handoff efficiency: per venture over time at the chosen grain, and per stage."""

from dashboard.app_pages import rates
from dashboard.ui import layout

rates(layout.current(), "Handoff efficiency", "handoff_efficiency", "handoff_efficiency")
