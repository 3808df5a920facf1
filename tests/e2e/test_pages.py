"""The pages in Debian's Chromium, against `orchdash run` on the demo data, as the chairman.

Waiting is on the app's own state: the URL the script writes, Streamlit's run state, and the
elements a page draws. Each page is also photographed for the README (docs/screenshots/).
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pandas as pd
import pytest
from drawn import DRAWS, PAGES, SCREENSHOTS, wait_drawn
from harness import CHAIRMAN, CSV_BUTTONS, AppServer, demo_password, sign_in, wait_for_app
from playwright.sync_api import Browser, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

import queries
from dashboard.charts import (
    agent_charts,
    decisions,
    heatmap,
    interventions,
    rates,
    stage_times,
    theme,
    tiles,
    what_changed,
)
from dashboard.charts import format as fmt
from dashboard.ui import pages, table_csv
from queries import Filters, Scope, config, engines, users

# The CSV column each chart draws, the axis it is on, and the traces that draw it (None: all).
DRAWN: dict[str, tuple[str, str, str | None]] = {
    "stage-durations": ("Median (s)", "y", "Median (p25–p75 spread)"),
    "venture-health": (theme.STAGE, "x", None),
    "agents": (agent_charts.UTILIZATION, "y", agent_charts.UTILIZATION),
    "error-rates": (theme.ERROR_RATE, "y", None),
    "error-rates-by-stage": (theme.ERROR_RATE, "y", None),
    "handoff-efficiency": (theme.HANDOFF, "y", None),
    "handoff-efficiency-by-stage": (theme.HANDOFF, "y", None),
    "chairman-interventions": (theme.INTERVENTIONS, "y", theme.INTERVENTIONS),
    "chairman-interventions-by-venture": (theme.INTERVENTIONS, "x", theme.INTERVENTIONS),
    "interventions-per-100-actions": (theme.PER_100, "x", None),
}

# On the page's path, with the filters written back into the URL by the script.
ON_PAGE = """path => location.pathname.replace(/[/]$/, "") === path.replace(/[/]$/, "")
    && location.search.includes("from=")"""
CHART_DATA = """() => Array.from(
    document.querySelectorAll("[data-testid='stPlotlyChart'] .js-plotly-plot")
).map(gd => gd._fullData.map(t => ({
    name: t.name,
    x: Array.from(t.x || [], v => (typeof v === "number" ? v : String(v))),
    y: Array.from(t.y || [], v => (typeof v === "number" ? v : String(v))),
})))"""


def test_draws_name_every_registered_page() -> None:
    assert list(DRAWS) == [p.title for p in pages.PAGES]


# ---- helpers --------------------------------------------------------------------------------


def query(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def open_page(page: Page, title: str) -> None:
    """Through the sidebar navigation, as a reader does."""
    page.locator("[data-testid='stSidebarNav']").get_by_role("link", name=title, exact=True).click()
    page.wait_for_function(ON_PAGE, arg="/" + PAGES[title][0], timeout=60_000)
    wait_drawn(page, title)


def choose(page: Page, label: str, option: str) -> None:
    box = page.locator("[data-testid='stSidebar']").get_by_role("combobox", name=label)
    box.click()
    # Typing filters the (virtualised) list down to the option.
    box.press_sequentially(option)
    page.get_by_role("option", name=option, exact=True).click()


def change_and_wait(page: Page, title: str, action: Any) -> None:
    before = page.url
    action()
    page.keyboard.press("Escape")
    page.wait_for_function("old => location.href !== old", arg=before, timeout=60_000)
    wait_drawn(page, title)


def chart_data(page: Page) -> list[list[dict[str, Any]]]:
    return page.evaluate(CHART_DATA)


def finite(values: list[Any]) -> list[float]:
    return [float(v) for v in values if isinstance(v, int | float) and math.isfinite(v)]


# ---- the chairman's data, straight from the query layer ------------------------------------


def database_url(server: AppServer, role: str = config.APP_ROLE) -> str:
    """The URL of a running server's embedded database (socket and port from postmaster.pid)."""
    lines = (Path(server.data_dir) / "pgdata" / "postmaster.pid").read_text().splitlines()
    port, socket_dir = lines[3].strip(), lines[4].strip()
    return f"postgresql+psycopg://{role}@/{config.DATABASE_NAME}?host={socket_dir}&port={port}"


def chairman_of(engine: Engine) -> Scope:
    user_id = users.user_id_for_email(engine, CHAIRMAN)
    assert user_id
    return queries.scope_for_user(engine, user_id)


@pytest.fixture(scope="module")
def chairman(app_server_process: AppServer) -> Iterator[tuple[Engine, Scope]]:
    """The app's database as its runtime role, and the chairman's scope in it."""
    engine = engines.make_engine(database_url(app_server_process), pool_size=2)
    yield engine, chairman_of(engine)
    engine.dispose()


def filters_of(url: str) -> Filters:
    params = parse_qs(urlsplit(url).query)
    return Filters(
        start=date.fromisoformat(params["from"][0]),
        end=date.fromisoformat(params["to"][0]),
        company_ids=tuple(params.get("company", [])),
        venture_ids=tuple(params.get("venture", [])),
        stages=tuple(int(s) for s in params.get("stage", [])),
        grain=params["grain"][0],
        tz=params.get("tz", [os.environ.get("ORCHDASH_TIMEZONE", "UTC")])[0],
        agents=tuple(params.get("agent", [])),
        agents_match=params.get("agents_match", ["any"])[0],
    )


def expected_tables(
    engine: Engine, scope: Scope, f: Filters, title: str = ""
) -> dict[str, pd.DataFrame]:
    """What each Download CSV must hold, computed from the query layer as the chairman."""
    changes = what_changed.changes_table(queries.venture_changes(engine, scope, f))
    cells = queries.venture_stage_health(engine, scope, f)
    first_measure, first_reference = next(iter(heatmap.MEASURES)), "Stage baseline"
    per_venture = interventions.interventions_venture_table(
        queries.chairman_interventions(engine, scope, f)
    )
    stage_rates = queries.stage_rates(engine, scope, f)
    return {
        "kpis": tiles.kpi_table(queries.kpis(engine, scope, f)),
        "kpi-trend": tiles.trend_table(queries.kpi_trend(engine, scope, f)),
        "ventures-attention": tiles.attention_table(
            queries.venture_attention(engine, scope, f, limit=5)
        ),
        "what-changed": changes.head(5) if title == "Overview" else changes,
        "venture-health": heatmap.shown_table(
            heatmap.heatmap_table(
                queries.heatmap_cells(
                    cells, heatmap.MEASURES[first_measure].key, heatmap.AGAINST[first_reference]
                ),
                first_measure,
                first_reference,
            )
        ),
        "decisions": decisions.decisions_table(queries.kpi_trend(engine, scope, f)),
        "agents": agent_charts.activity_table(queries.agent_activity(engine, scope, f)),
        "stage-durations": stage_times.stage_duration_table(
            queries.stage_durations(engine, scope, f)
        ),
        "error-rates": rates.rate_table(queries.error_rates(engine, scope, f), "error_rate"),
        "error-rates-by-stage": rates.stage_rate_table(stage_rates, "error_rate"),
        "handoff-efficiency": rates.rate_table(
            queries.handoff_efficiency(engine, scope, f), "handoff_efficiency"
        ),
        "handoff-efficiency-by-stage": rates.stage_rate_table(stage_rates, "handoff_efficiency"),
        "chairman-interventions": interventions.interventions_time_table(
            queries.chairman_interventions(engine, scope, f)
        ),
        "chairman-interventions-by-venture": interventions.venture_counts_table(per_venture),
        "interventions-per-100-actions": interventions.per_100_table(per_venture),
    }


def read_csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


# ---- tests ----------------------------------------------------------------------------------


def test_every_page_shows_its_charts(signed_in_page: Page, app_server: str) -> None:
    page = signed_in_page
    wait_drawn(page, "Overview")
    # Retried, as every count of what a page draws (docs/contributing.md).
    expect(page.locator("[data-testid='stMetric']")).to_have_count(len(tiles.KPIS))
    # A quarter by week reads best in the README's pictures.
    change_and_wait(page, "Overview", lambda: choose(page, "Period", "Last 90 days"))
    page.locator("[data-testid='stSidebar']").get_by_text("Week", exact=True).click()
    page.wait_for_function("() => location.search.includes('grain=week')", timeout=60_000)
    wait_drawn(page, "Overview")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1400, "height": 900})
    for title, (path, plotly, downloads) in PAGES.items():
        if title != "Overview":
            open_page(page, title)
        # The filters follow the reader from page to page, and stay in the URL.
        assert query(page)["grain"] == ["week"]
        assert page.locator("[data-testid='stPlotlyChart']").count() == plotly
        assert page.locator(CSV_BUTTONS).count() == downloads
        buttons = page.get_by_role("button", name="Download CSV")
        links = page.get_by_role("link", name="Download CSV")
        assert buttons.count() + links.count() >= 1
        if title == "Export":
            expect(links).to_have_count(1)
            expect(page.get_by_text("Rows selected")).to_have_count(1)
        page.screenshot(path=str(SCREENSHOTS / f"{path or 'overview'}.png"))


def test_period_and_stages_change_the_charts_and_the_url(signed_in_page: Page) -> None:
    page = signed_in_page
    open_page(page, "Error rates")
    first, first_query = chart_data(page), query(page)
    change_and_wait(page, "Error rates", lambda: choose(page, "Period", "Last 90 days"))
    second, second_query = chart_data(page), query(page)
    assert second_query["from"] != first_query["from"]
    assert second_query["to"] == first_query["to"]
    assert second != first
    change_and_wait(page, "Error rates", lambda: choose(page, "Stages", "24"))
    third, third_query = chart_data(page), query(page)
    assert third_query["stage"] == ["24"]
    assert third != second
    # Only stage 24 is left in the per-stage chart.
    by_stage = third[1][0]
    assert [x for x, y in zip(by_stage["x"], by_stage["y"], strict=True) if finite([y])] == [24]

    # A copied URL opens the same view in another tab...
    copied = page.url
    other = page.context.new_page()
    other.goto(copied)
    wait_drawn(other, "Error rates")
    assert query(other) == third_query
    assert chart_data(other) == third
    period = other.locator("[data-testid='stSidebar']").get_by_role("combobox", name="Period")
    assert "Last 90 days" in (period.input_value() or period.get_attribute("aria-label") or "") or (
        other.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']")
        .get_by_text("Last 90 days", exact=True)
        .count()
        == 1
    )
    other.close()


def test_a_copied_url_opened_signed_out_shows_the_view_after_sign_in(
    signed_in_page: Page, browser: Browser
) -> None:
    page = signed_in_page
    open_page(page, "Chairman interventions")
    change_and_wait(page, "Chairman interventions", lambda: choose(page, "Period", "Year to date"))
    copied, shown = page.url, chart_data(page)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        stranger = context.new_page()
        stranger.goto(copied)
        sign_in(stranger, CHAIRMAN, demo_password(CHAIRMAN))
        wait_drawn(stranger, "Chairman interventions")
        assert query(stranger) == query(page)
        assert chart_data(stranger) == shown
    finally:
        context.close()


@pytest.mark.parametrize("title", [t for t, (_, _, d) in PAGES.items() if d])
def test_each_download_csv_holds_the_chairmans_rows_as_shown(
    signed_in_page: Page, chairman: tuple[Engine, Scope], title: str
) -> None:
    page = signed_in_page
    engine, scope = chairman
    if title == "Overview":
        wait_drawn(page, title)
    else:
        open_page(page, title)
    f = filters_of(page.url)
    expected = expected_tables(engine, scope, f, title)
    names = set(queries.companies(engine, scope)["company"])
    drawn = chart_data(page)
    buttons = page.locator(CSV_BUTTONS)
    expect(buttons).to_have_count(PAGES[title][2])
    for index in range(buttons.count()):
        with page.expect_download() as info:
            buttons.nth(index).get_by_role("button", name="Download CSV").click()
        download = info.value
        slug, start, end = download.suggested_filename.removesuffix(".csv").split("_")
        assert (start, end) == (f.start.isoformat(), f.end.isoformat())
        data = Path(download.path()).read_bytes()
        # Exactly the chairman's data as the query layer gives it, nothing else.
        assert data == table_csv.to_csv(expected[slug]), slug
        rows = read_csv(data)
        assert rows, slug
        if theme.COMPANY in rows[0]:
            assert {r[theme.COMPANY].removeprefix("'") for r in rows} <= names
        if slug in DRAWN:
            _assert_drawn(drawn[index], rows, slug)
    if title == "Overview":
        _assert_tiles(page, expected["kpis"])


def _assert_drawn(traces: list[dict[str, Any]], rows: list[dict[str, str]], slug: str) -> None:
    """The chart shows the CSV's numbers: same total of the drawn measure, same points."""
    column, axis, trace = DRAWN[slug]
    shown = [v for t in traces if trace in (None, t["name"]) for v in finite(t[axis])]
    written = finite([float(r[column]) if r[column] else math.nan for r in rows])
    assert len(shown) == len(written), slug
    assert sum(shown) == pytest.approx(sum(written), rel=1e-9), slug


def _assert_tiles(page: Page, kpis: pd.DataFrame) -> None:
    values = page.locator("[data-testid='stMetricValue']").all_inner_texts()
    by_label = {k.unit_label: k for k in tiles.KPIS}
    # The tiles' table may end with the low-confidence share, which is a note, not a tile.
    table = kpis.set_index("Measure")["This period"].loc[list(by_label)]
    for shown, (measure, value) in zip(values, table.items(), strict=True):
        kpi = by_label[str(measure)]
        raw = value / 100 if kpi.kind == "ratio" else value
        assert shown.strip() == kpi.shown(raw), measure


def test_export_streams_the_chairmans_rows(
    signed_in_page: Page, chairman: tuple[Engine, Scope]
) -> None:
    page = signed_in_page
    engine, scope = chairman
    open_page(page, "Export")
    f = filters_of(page.url)
    shown = page.locator("[data-testid='stMetricValue']").first.inner_text()
    link = page.get_by_role("link", name="Download CSV")
    response = page.request.get(urljoin(page.url, link.get_attribute("href") or ""))
    assert response.ok
    assert "attachment" in response.headers["content-disposition"]
    rows = read_csv(response.body())
    assert fmt.number(len(rows)) == shown.strip()
    expected = queries.metric_rows(engine, scope, f)
    assert {r["metric_id"] for r in rows} == set(expected["metric_id"].astype(str))
    names = set(queries.companies(engine, scope)["company"])
    assert {r["company"].removeprefix("'") for r in rows} <= names


HOSTILE_COMPANY = "<img src=x onerror=alert(1)>"
HOSTILE_VENTURES = ("[x](javascript:alert(1))", '=HYPERLINK("http://example.com","y")')


def test_hostile_names_stay_plain_text(
    start_app_server: Callable[..., AppServer], page: Page
) -> None:
    """Company and venture names that are HTML, Markdown and formulas, on every page.

    A server of its own, renamed before anyone looks, so no cache holds the old names and the
    README's pictures keep the friendly ones. A dialog (alert) fails the test by the page fixture.
    """
    server = start_app_server(env={"ORCHDASH_DEMO_ROWS": "5000"})
    app = engines.make_engine(database_url(server), pool_size=1)
    owner = create_engine(database_url(server, "postgres"), poolclass=NullPool)
    try:
        scope = chairman_of(app)
        company = queries.companies(app, scope)["company_id"].iloc[0]
        ventures = queries.ventures(app, scope, (company,))["venture_id"].iloc[:2]
        with owner.begin() as conn:
            conn.execute(
                text("UPDATE public.companies SET name = :name WHERE id = :id"),
                {"name": HOSTILE_COMPANY, "id": company},
            )
            for venture, name in zip(ventures, HOSTILE_VENTURES, strict=True):
                conn.execute(
                    text("UPDATE public.ventures SET name = :name WHERE id = :id"),
                    {"name": name, "id": venture},
                )
    finally:
        app.dispose()
        owner.dispose()

    # The demo spans 18 months up to today: take them all.
    start, end = date.today() - timedelta(days=600), date.today()
    page.goto(f"{server.url}/error-rates?company={company}&from={start}&to={end}&grain=month")
    sign_in(page, CHAIRMAN, demo_password(CHAIRMAN))
    wait_drawn(page, "Error rates")
    # The chosen company, by its name, as text.
    tag = page.locator("[data-testid='stSidebar'] [data-testid='stMultiSelect']").first
    assert HOSTILE_COMPANY in tag.inner_text()
    # The ventures' names are legend entries in the chart, as text.
    legend = page.locator("[data-testid='stPlotlyChart'] .legendtext").evaluate_all(
        "texts => texts.map(t => t.textContent)"
    )
    assert set(HOSTILE_VENTURES) <= set(legend)
    for title in PAGES:
        if title != "Error rates":
            open_page(page, title)
        assert page.locator("img[src='x']").count() == 0
        assert page.locator("a[href^='javascript']").count() == 0
    # In a spreadsheet the formula stays text.
    open_page(page, "Error rates")
    with page.expect_download() as info:
        page.get_by_role("button", name="Download CSV").first.click()
    rows = read_csv(Path(info.value.path()).read_bytes())
    assert {r[theme.COMPANY] for r in rows} == {HOSTILE_COMPANY}
    assert "'" + HOSTILE_VENTURES[1] in {r[theme.VENTURE] for r in rows}


# ---- Venture health: the heatmap's drill-down in a real browser ----------------------------

# The page position of point ``i`` of the heatmap's trace, from Plotly's own axes.
POINT = """i => {
    const gd = document.querySelector("[data-testid='stPlotlyChart'] .js-plotly-plot");
    const trace = gd._fullData[0], layout = gd._fullLayout;
    const box = gd.getBoundingClientRect();
    return {
        x: box.left + layout._size.l + layout.xaxis.l2p(trace.x[i]),
        y: box.top + layout._size.t + layout.yaxis.l2p(layout.yaxis.d2l(trace.y[i])),
        stage: trace.x[i],
    };
}"""

STILL = """() => new Promise(done => {
    const gd = document.querySelector("[data-testid='stPlotlyChart'] .js-plotly-plot");
    const at = () => JSON.stringify(gd.getBoundingClientRect());
    const before = at();
    requestAnimationFrame(() => requestAnimationFrame(() => done(at() === before)));
})"""


def test_a_click_on_a_heatmap_cell_opens_its_rows(
    signed_in_page: Page, chairman: tuple[Engine, Scope]
) -> None:
    page = signed_in_page
    engine, scope = chairman
    open_page(page, "Venture health")
    f = filters_of(page.url)
    cells = queries.venture_stage_health(engine, scope, f)
    index = int(cells["rows"].idxmax())
    cell = cells.loc[index]
    chart = page.locator("[data-testid='stPlotlyChart']").first
    chart.scroll_into_view_if_needed()
    # A click lands where the cell is drawn only once the page has stopped moving (a loaded
    # machine may still be laying out the parts below the chart): the same place two frames on.
    heading = page.get_by_role(
        "heading", name=f"Rows behind {cell['venture']}, stage {cell['stage_id']}"
    )
    # Once more if the first click found the chart still moving (CI saw one such miss).
    for timeout_ms in (30_000, 60_000):
        if heading.count():  # the first click was only slow: a second would unselect the cell
            break
        page.wait_for_function(STILL, timeout=30_000)
        point = page.evaluate(POINT, index)
        assert point["stage"] == cell["stage_id"]
        page.mouse.click(point["x"], point["y"])
        try:
            heading.wait_for(timeout=timeout_ms)
            break
        except PlaywrightTimeout:
            wait_for_app(page)
    heading.wait_for(timeout=1_000)
    wait_for_app(page)
    buttons = page.locator(CSV_BUTTONS)
    expect(buttons).to_have_count(4)  # heatmap, the cell's rows, what changed, decisions
    with page.expect_download() as info:
        buttons.nth(1).get_by_role("button", name="Download CSV").click()
    rows = read_csv(Path(info.value.path()).read_bytes())
    expected = queries.cell_rows(engine, scope, f, cell["venture_id"], int(cell["stage_id"]))
    assert len(rows) == cell["rows"] == len(expected)
    assert {r["metric_id"] for r in rows} == set(expected["metric_id"])
    assert {r["venture_id"] for r in rows} == {cell["venture_id"]}
    assert {r["stage_id"] for r in rows} == {str(cell["stage_id"])}
    # The README's picture of the page, from the top, with a cell's rows open.
    page.set_viewport_size({"width": 1400, "height": 2000})
    page.get_by_role("heading", name="Venture health", exact=True).scroll_into_view_if_needed()
    wait_for_app(page)
    page.screenshot(path=str(SCREENSHOTS / "venture-health.png"))
