"""The Venture health page through AppTest on the demo data (fixtures of tests/test_pages.py):
it draws for the chairman, a click on a heatmap cell opens exactly that cell's rows, the decision
markers give before and after averages, and the page stays inside the scope."""

from __future__ import annotations

import hashlib
import json
from datetime import date

import pandas as pd
import test_pages as pages
from streamlit.testing.v1 import AppTest
from test_pages import (
    CHAIRMAN,
    NOBODY,
    Demo,
    app_for,
    assert_clean,
    assert_names_inert,
    open_page,
    plotly_specs,
)

import queries
from dashboard.charts import heatmap, theme
from queries import Filters, audit, engines

# The demo database of the page tests, shared (module-scoped there, here too).
demo_db = pages.demo_db
app_env = pages.app_env

PAGE = "venture_health.py"


def chairman_filters(at: AppTest) -> Filters:
    params = at.query_params
    return Filters(start=date.fromisoformat(params["from"]), end=date.fromisoformat(params["to"]))


def test_the_page_draws_for_the_chairman(app_env: Demo) -> None:
    at = open_page(app_for(app_env, CHAIRMAN), PAGE)
    assert_clean(at)
    assert [t.value for t in at.title] == ["Venture health"]
    assert_names_inert(at)
    specs = plotly_specs(at)
    assert len(specs) == 2  # the heatmap and the decisions
    heat = specs[0]["data"][0]
    assert heat["marker"]["symbol"] == "square" and len(heat["x"]) > 40
    assert set(heat["x"]) <= set(range(1, 41))
    # Red and blue (distinguishable with red-green colour blindness), and words: the legend's ends
    # and every cell's hover say worse or better.
    ends = heat["marker"]["colorbar"]["ticktext"]
    assert ends[0].endswith(" better") and ends[-1].endswith(" worse")
    worse_by = [h.split("Worse by: ")[1].split("<br>")[0] for h in heat["hovertext"]]
    assert all(
        w.endswith((", worse vs stage baseline", " better vs stage baseline"))
        or w.startswith(("n/a", "as expected"))
        for w in worse_by
    ), worse_by[:5]
    labels = [d.label for d in at.get("download_button")]
    # The board pack, then the heatmap's, What changed's and the decisions' CSV.
    assert labels == ["Download PDF"] + ["Download CSV"] * 3
    assert [s.value for s in at.subheader][:2] == ["What changed", "Decisions on the timelines"]


def chairman_cells(demo: Demo, at: AppTest) -> pd.DataFrame:
    """The heatmap's cells for the chairman and the page's filters, from the query layer."""
    engine = engines.make_engine(demo.app_url, pool_size=1)
    try:
        scope = queries.scope_for_user(engine, demo.users[CHAIRMAN])
        return queries.venture_stage_health(engine, scope, chairman_filters(at))
    finally:
        engine.dispose()


def test_the_heatmap_csv_equals_the_query_layer(app_env: Demo) -> None:
    at = open_page(app_for(app_env, CHAIRMAN), PAGE)
    cells = chairman_cells(app_env, at)
    spec = plotly_specs(at)[0]["data"][0]
    compared = queries.heatmap_cells(cells, "duration", "base")
    table = heatmap.heatmap_table(compared, "Median stage duration", "Stage baseline")
    assert spec["x"] == table[theme.STAGE].tolist()
    assert len(spec["hovertext"]) == len(table)


def select_cell(at: AppTest, index: int) -> AppTest:
    """What Streamlit's frontend sends when a point of the heatmap is clicked."""
    state = {"selection": {"points": [{"point_index": index, "customdata": index}],
                           "point_indices": [index], "box": [], "lasso": []}}  # fmt: skip
    at.session_state["chart-venture-health"] = state
    return at.run()


def test_a_click_on_a_cell_opens_its_rows(app_env: Demo) -> None:
    at = open_page(app_for(app_env, CHAIRMAN), PAGE)
    cells = chairman_cells(app_env, at)
    index = int(cells["rows"].idxmax())
    at = select_cell(at, index)
    assert_clean(at)
    frames = [f.value for f in pages.page_tables(at)]
    rows = frames[0]
    assert len(rows) == cells.loc[index, "rows"]
    assert set(rows["venture_id"]) == {cells.loc[index, "venture_id"]}
    assert set(rows["stage_id"]) == {cells.loc[index, "stage_id"]}
    assert len([d for d in at.get("download_button") if d.label == "Download CSV"]) == 4


def test_decision_markers_give_before_and_after(app_env: Demo) -> None:
    at = open_page(app_for(app_env, CHAIRMAN), PAGE)
    box = at.selectbox(key="health_decision")
    assert len(box.options) > 1
    at = box.select_index(1).run()
    assert_clean(at)
    labels = [m.label for m in at.metric]
    assert labels == [
        "Error rate, 14 days before",
        "Handoff efficiency, 14 days before",
        "Error rate, 14 days after",
        "Handoff efficiency, 14 days after",
    ]


def test_no_access_is_explained(app_env: Demo) -> None:
    at = open_page(app_for(app_env, NOBODY), PAGE)
    assert_clean(at)
    assert not at.get("plotly_chart") and not at.get("download_button")


def test_the_export_page_lists_only_the_users_own_receipts(app_env: Demo) -> None:
    engine = engines.make_engine(app_env.app_url, pool_size=1)
    try:
        name = "orchestration-metrics_2026-01-01_2026-01-31_20260201T000000Z.csv"
        receipt = audit.Receipt(
            file_name=name,
            filters={"start": "2026-01-01", "end": "2026-01-31", "tz": "UTC"},
            time_zone="UTC",
            data_as_of=audit.now_utc(),
            row_count=12,
            scope=(app_env.companies[0],),
            sha256=hashlib.sha256(b"twelve rows").hexdigest(),
        )
        audit.record_export(engine, app_env.users[CHAIRMAN], "export", receipt)
    finally:
        engine.dispose()
    at = open_page(app_for(app_env, CHAIRMAN), "export.py")
    assert_clean(at)
    table = pages.page_tables(at)[1].value
    assert name in set(table["File"]) and receipt.sha256 in set(table["SHA-256"])
    at = at.selectbox(key="audit_receipt").select_index(1).run()
    shown = json.loads(at.code[0].value)
    assert shown["sha256"] == receipt.sha256 and shown["row_count"] == 12
    assert [d.label for d in at.get("download_button")] == ["Download receipt (JSON)"]
    # Another user sees none of it (nobody has no companies, so no Export page: check the query).
    other = engines.make_engine(app_env.app_url, pool_size=1)
    try:
        nobody = audit.my_exports(other, queries.Scope(user_id=app_env.users[NOBODY]))
    finally:
        other.dispose()
    assert nobody.empty
