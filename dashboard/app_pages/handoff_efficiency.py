"""Handoff efficiency: per venture over time at the chosen grain, and per stage."""

from dashboard import layout
from dashboard.app_pages import rates

rates(layout.current(), "Handoff efficiency", "handoff_efficiency", "handoff_efficiency")
