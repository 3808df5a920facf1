"""The list of pages, once: what the navigation shows, what the cache may load, what tests visit.

Each :class:`Page` names its script in dashboard/app_pages/, its title (the UI contract's word,
shown in the navigation and as the page's heading), its URL path, and the query functions of
``queries`` its first draw loads through dashboard/ui/data.py (``loads``, in order) or loads later
on a reader's choice (``later``). The layout builds ``st.navigation`` from :data:`PAGES`, the cache
allows exactly :data:`LOADS`, and the tests (AppTest, the browser, the security suite, the
benchmark) read the same list. These are the pages of figures, each of which a user may get by
email; :data:`ACCOUNT` pages (Subscriptions, Alerts) follow them in the navigation. Adding a
page: its script, then one entry here (and the query function in ``queries/__init__.py`` if it
is new); docs/contributing.md says the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

APP_PAGES = Path(__file__).resolve().parents[1] / "app_pages"
# Every page may explain an empty view by counting the rows the filters exclude.
EMPTY_REASON_LOADS = ("count_rows",)


@dataclass(frozen=True)
class Page:
    file: str  # in dashboard/app_pages/
    title: str  # the UI contract's word
    path: str  # the URL path
    loads: tuple[str, ...]  # queries.<name>(engine, scope, filters, ...) of the first draw
    later: tuple[str, ...] = ()  # loaded only after a reader's choice on the page

    @property
    def script(self) -> Path:
        return APP_PAGES / self.file


# No page icons: Streamlit would fetch a Material icon as favicon from fonts.gstatic.com, a third
# party the app never calls. The first page is the default one.
PAGES = (
    Page(
        "overview.py",
        "Overview",
        "overview",
        ("kpis", "kpi_trend", "venture_changes", "venture_attention"),
    ),
    Page(
        "venture_health.py",
        "Venture health",
        "venture-health",
        ("venture_stage_health", "venture_changes", "kpi_trend"),
        later=("kpis",),
    ),
    Page("agent_activity.py", "Agents", "agents", ("agent_activity",)),
    Page("stage_durations.py", "Stage durations", "stage-durations", ("stage_durations",)),
    Page("error_rates.py", "Error rates", "error-rates", ("error_rates", "stage_rates")),
    Page(
        "handoff_efficiency.py",
        "Handoff efficiency",
        "handoff-efficiency",
        ("handoff_efficiency", "stage_rates"),
    ),
    Page(
        "chairman_interventions.py",
        "Chairman interventions",
        "chairman-interventions",
        ("chairman_interventions",),
    ),
    Page("export.py", "Export", "export", ("count_rows", "metric_rows")),
)
# After them in the navigation, the user's own settings: no figures, nothing to subscribe to;
# read fresh on every run, never through the cache.
ACCOUNT = (
    Page("my_subscriptions.py", "Subscriptions", "subscriptions", ()),
    Page("my_alerts.py", "Alerts", "alerts", ()),
)
# The query functions a page may call through the cache, by name: a fixed allow-list.
LOADS = tuple(dict.fromkeys(n for p in PAGES for n in (*p.loads, *p.later, *EMPTY_REASON_LOADS)))


def page(title: str) -> Page:
    """The page of a title."""
    return next(p for p in (*PAGES, *ACCOUNT) if p.title == title)
