"""The chat page in a real browser: Debian's chromium driven by Playwright, no internet."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from agent.answer.markdown import code, code_block
from agent.api.app import create_api_app
from agent.api.edges import ApiSettings
from agent.llm.settings import LLMSettings
from agent.web import create_ui_app
from history.categories import BY_NAME
from tests.fixtures_agent import AGENT_SPEC, AgentHistory, make_agent_history
from tests.fixtures_llm import ServerThread, answer, call

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOT = Path("/tmp/agent-ui.png")


SCRIPT_LOG = "RuntimeError: bad config <script>alert(document.cookie)</script> | x | **y**"
UI_SPEC = {
    **AGENT_SPEC,
    "failures": [
        *AGENT_SPEC["failures"],
        {"workload_name": "xss-probe", "project": "team-b", "category": "app_error",
         "node": "node-gpu-02", "at": "-6h", "evidence": SCRIPT_LOG, "evidence_source": "log"},
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> AgentHistory:
    return make_agent_history(tmp_path_factory.mktemp("ui"), UI_SPEC)


@pytest.fixture(scope="module")
def ui_url(history) -> Iterator[str]:
    settings = ApiSettings(db_path=str(history.path), clock=lambda: history.now)
    with ServerThread(create_ui_app(create_api_app(settings))) as server:
        yield server.url


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (scripts/install-system-deps)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield instance
        instance.close()


@pytest.fixture
def page(browser, ui_url):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    outside: list[str] = []
    dialogs: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(ui_url) else outside.append(r.url))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(ui_url)
    yield page
    assert outside == [], "the page must not reach beyond its own origin"
    assert dialogs == [], "no script from stored data may run"
    context.close()


def test_assets_are_served_with_a_strict_csp(ui_url):
    for path, kind in (
        ("/", "text/html"),
        ("/app.js", "text/javascript"),
        ("/app.css", "text/css"),
    ):
        response = httpx.get(ui_url + path)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith(kind)
        assert "script-src 'self'" in response.headers["content-security-policy"]
    page_html = httpx.get(ui_url + "/").text
    assert "http://" not in page_html and "https://" not in page_html  # no CDN
    assert httpx.get(ui_url + "/healthz").json()["status"] == "ok"  # the API, same origin


def test_example_question_streams_a_table_with_true_numbers(page, history):
    page.get_by_role("button", name="Show me failure statistics").click()
    answer = page.locator(".msg.agent.done .answer")
    answer.wait_for(timeout=20_000)
    total = history.scalar(
        'SELECT count(*) FROM failure_events WHERE "timestamp" >= ?',
        [history.now - timedelta(days=7)],
    )
    assert f"{total} failures" in answer.inner_text()
    rows = {
        r.locator("td").nth(0).inner_text(): r.locator("td").nth(1).inner_text()
        for r in answer.locator("table").first.locator("tbody tr").all()
    }
    expected = dict(history.sql(
        'SELECT category, count(*) FROM failure_events WHERE "timestamp" >= ? GROUP BY 1',
        [history.now - timedelta(days=7)],
    ))  # fmt: skip
    assert {k.split(" ")[0]: int(v) for k, v in rows.items()} == expected

    tool = page.locator("details.tool").first
    assert not tool.evaluate("d => d.open")
    tool.locator("summary").click()
    assert tool.evaluate("d => d.open")
    assert "failure_statistics" in tool.locator("summary").inner_text()
    assert f'"total_failures": {total}' in tool.locator("pre.result").inner_text()
    page.locator("#chart svg rect.bar").first.wait_for(timeout=10_000)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 10_000


def test_chart_has_bars_for_the_seeded_categories(page, history):
    page.locator("#chart svg rect.bar").first.wait_for(timeout=10_000)
    drawn: dict[str, int] = {}
    for bar in page.locator("#chart svg rect.bar").all():
        category = bar.get_attribute("data-category") or ""
        drawn[category] = drawn.get(category, 0) + int(bar.get_attribute("data-count") or 0)
    expected = dict(history.sql(
        'SELECT category, count(*) FROM failure_events WHERE "timestamp" >= ? GROUP BY 1',
        [history.now - timedelta(days=14)],
    ))  # fmt: skip
    assert drawn == expected
    assert page.locator("#legend li").count() == len(expected)


def test_chart_colours_come_from_the_category_table(page, history):
    page.locator("#chart svg rect.bar").first.wait_for(timeout=10_000)
    for bar in page.locator("#chart svg rect.bar").all():
        category = bar.get_attribute("data-category") or ""
        assert bar.get_attribute("fill") == BY_NAME[category].colour, category


def test_a_link_from_an_alert_fills_in_its_question_without_sending_it(browser, ui_url):
    context = browser.new_context()
    page = context.new_page()
    question = "Why did workloads fail on node dgx-01?"
    page.goto(f"{ui_url}/?q=Why+did+workloads+fail+on+node+dgx-01%3F")
    assert page.locator("#question").input_value() == question
    assert page.locator(".answer").count() == 0  # the user sends it, not the link
    context.close()


def test_stored_script_is_shown_as_text(page):
    page.get_by_role("button", name="Why did train-llama-7b fail?").click()
    page.locator(".msg.agent.done").wait_for(timeout=20_000)
    page.fill("#question", "Why did xss-probe fail?")  # a second turn: earlier ones ride along
    page.press("#question", "Enter")
    second = page.locator(".msg.agent.done").nth(1)
    second.wait_for(timeout=20_000)
    assert page.locator("script").count() == 1  # only app.js
    assert "<script>alert(document.cookie)</script>" in second.locator(".answer").inner_text()
    tool = second.locator("details.tool").first
    tool.locator("summary").click()
    assert SCRIPT_LOG in tool.locator("pre.result").inner_text()


def test_markdown_renderer_escapes_html(page):
    html = page.evaluate(
        "renderMarkdown('| a | b |\\n| --- | ---: |\\n| <img src=x onerror=alert(1)> | **2** |')"
    )
    assert "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert '<td class="num"><strong>2</strong></td>' in html
    escaped = page.evaluate("renderMarkdown('Fix the app\\\\_error cause, `a\\\\|b`')")
    assert escaped == "<p>Fix the app_error cause, <code>a|b</code></p>"
    assert not page.locator("#token-form").is_visible()  # no token configured


def test_llm_answer_with_a_made_up_number_is_flagged_on_the_page(browser, history, scripted_llm):
    llm = LLMSettings(api_key="sk-ui-test-key", base_url=scripted_llm.base_url, model="scripted",
                      timeout_s=5, max_retries=0)  # fmt: skip
    settings = ApiSettings(db_path=str(history.path), clock=lambda: history.now, llm=llm)
    scripted_llm.play(
        call("failure_statistics", {"window": "last 7 days"}),
        answer("| Cause | Failures |\n| --- | ---: |\n| gpu_oom | 3 |\n| nccl | 4711 |"),
    )
    with ServerThread(create_ui_app(create_api_app(settings))) as server:
        context = browser.new_context()
        page = context.new_page()
        page.goto(server.url)
        page.get_by_role("button", name="Show me failure statistics").click()
        done = page.locator(".msg.agent.done")
        done.wait_for(timeout=20_000)
        assert "LLM answer · 1 tool call" in done.locator(".meta").inner_text()
        assert done.locator("table td").nth(3).inner_text() == "4711"
        warning = done.locator("blockquote").inner_text()
        assert "Warning: unverified numbers." in warning and "4711" in warning
        assert "not backed by this turn's tool results" in done.locator(".note").inner_text()
        assert "sk-ui-test-key" not in page.content()
        context.close()


def test_token_protected_agent_asks_for_the_token_once(browser, history):
    settings = ApiSettings(db_path=str(history.path), clock=lambda: history.now,
                           api_token="ui-token-42")  # fmt: skip
    with ServerThread(create_ui_app(create_api_app(settings))) as server:
        context = browser.new_context()
        page = context.new_page()
        page.goto(server.url)
        form = page.locator("#token-form")
        form.wait_for(state="visible", timeout=10_000)
        page.fill("#token", "ui-token-42")
        page.press("#token", "Enter")
        page.locator("#chart svg rect.bar").first.wait_for(timeout=10_000)
        assert not form.is_visible()
        page.get_by_role("button", name="Show me failure statistics").click()
        done = page.locator(".msg.agent.done")
        done.wait_for(timeout=20_000)
        assert "failures" in done.locator(".answer").inner_text()
        assert done.locator(".error").count() == 0
        context.close()


@pytest.mark.parametrize(
    "evidence",
    ["ran `rm -rf /tmp/x` then died", "`leading backtick", "trailing backtick`", "a `` b"],
)
def test_evidence_with_backticks_renders_as_one_code_span(page, evidence):
    # The server quotes such evidence with a longer fence; the page must read it back whole.
    cell = code(evidence)
    html = page.evaluate("md => renderMarkdown(md)", f"| Evidence |\n| --- |\n| {cell} |\n\n{cell}")
    assert html.count(f"<code>{evidence}</code>") == 2, html


def test_code_block_holding_a_fence_stays_one_block(page):
    html = page.evaluate("md => renderMarkdown(md)", code_block("step 1\n```\nstep 2"))
    assert html == "<pre><code>step 1\n```\nstep 2</code></pre>"


def test_a_link_from_a_chat_notification_fills_in_its_question(browser, history):
    settings = ApiSettings(db_path=str(history.path), clock=lambda: history.now)
    question = "analyze failures project team-a category gpu_oom from 2026-11-25T09:30Z"
    with ServerThread(create_ui_app(create_api_app(settings))) as server:
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{server.url}/?{urlencode({'q': question})}")
        page.wait_for_function("document.getElementById('question').value !== ''")
        assert page.input_value("#question") == question
        assert page.locator(".msg.agent").count() == 0  # filled in, not sent
        context.close()
