"""The built site in a real browser: headless Chromium (Debian's, via Playwright) with no network.

Checks what a reader in a classroom without internet meets: every page loads with no console error and
no request leaving the machine, every image has loaded, MathJax renders from the build, search finds
Chinese and English terms (in the Chinese edition too: 签约, 医共体, ...), the language switch leads to the
same page in the other edition, an exercise's hidden solution opens on click, pages fit a phone screen, and a
phone-width screenshot of a case chapter is saved under ``book/_build/screenshots/``.

The site is built once per session with ``python scripts/build_book.py --permutations 50`` (cached: a
rebuild with nothing changed re-executes nothing). ``PRIMARYCARE_SITE=<dir>`` tests an existing build.
"""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import quote

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "book" / "_build" / "screenshots"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
PHONE = {"width": 390, "height": 844}

if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (apt-get install -y chromium; "
                ".ci/run installs it), so the browser test cannot run here", allow_module_level=True)
playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")


# ---------------------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def site() -> Path:
    """The built HTML site: built (or refreshed from the cache) once per session."""
    if os.environ.get("PRIMARYCARE_SITE"):
        html = Path(os.environ["PRIMARYCARE_SITE"])
    else:
        cmd = [sys.executable, "scripts/build_book.py", "--permutations", "50", "--keep-going"]
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=3600)
        html = ROOT / "book" / "_build" / "html"
        assert (html / "index.html").exists(), (
            f"the book build did not produce {html / 'index.html'}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    assert (html / "index.html").exists(), f"no built site at {html}"
    return html


@pytest.fixture(scope="session")
def server(site: Path):
    """A local HTTP server on 127.0.0.1 serving the site; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep pytest output clean
        pass


@pytest.fixture(scope="session")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Offline:
    """A browser context that blocks and records every request not to the local server or a file."""

    def __init__(self, browser, base: str, **context_args):
        self.base = base
        self.external: list[str] = []
        self.console_errors: list[str] = []
        self.failed: list[str] = []
        self.context = browser.new_context(**context_args)
        self.context.route("**/*", self._route)

    def _route(self, route) -> None:
        url = route.request.url
        if url.startswith((self.base, "file://", "data:", "blob:", "about:")):
            route.continue_()
        else:
            self.external.append(url)
            route.abort()

    def page(self):
        page = self.context.new_page()
        page.on("console", lambda m: m.type == "error" and self.console_errors.append(f"{page.url}: {m.text}"))
        page.on("pageerror", lambda e: self.console_errors.append(f"{page.url}: {e}"))
        page.on("requestfailed", lambda r: self.failed.append(f"{r.url} ({r.failure})"))
        return page

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def offline(browser, server):
    ctx = Offline(browser, server)
    yield ctx
    ctx.close()


# ---------------------------------------------------------------------------------------------- helpers

def _pages(site: Path) -> list[str]:
    """Every HTML page of the book, both editions (not theme assets, sources or stray staging folders)."""
    out = []
    for p in sorted(site.rglob("*.html")):
        rel = p.relative_to(site)
        if any(part in ("_static", "_sources", "_images") or part.startswith(".") for part in rel.parts):
            continue
        out.append(rel.as_posix())
    return out


def _is_redirect(path: Path) -> bool:
    return 'http-equiv="refresh"' in path.read_text(encoding="utf-8", errors="replace")[:3000].lower()


BROKEN_IMAGES_JS = """
async () => {
  const imgs = Array.from(document.images);
  for (const i of imgs) { i.loading = 'eager'; }
  await Promise.all(imgs.map(i => i.decode().catch(() => null)));
  return imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.currentSrc || i.src);
}
"""


def _first(site: Path, pattern: str) -> str:
    found = sorted(site.glob(pattern))
    assert found, f"no page matching {pattern} in {site}"
    return found[0].relative_to(site).as_posix()


# ---------------------------------------------------------------------------------------------- tests

def test_every_page_loads_offline_with_images(site, server, offline):
    pages = _pages(site)
    assert len(pages) >= 5, f"only {len(pages)} pages in {site}"
    broken: dict[str, list[str]] = {}
    page = offline.page()
    for rel in pages:
        if _is_redirect(site / rel):  # index.html: a meta refresh to the first chapter
            page.goto(f"{server}/{quote(rel)}", wait_until="load")
            page.wait_for_url(lambda u, rel=rel: not u.endswith(rel), timeout=15_000)
            page.wait_for_load_state("load")
            continue
        resp = page.goto(f"{server}/{quote(rel)}", wait_until="load")
        assert resp is not None and resp.ok, f"{rel}: HTTP {resp.status if resp else 'no response'}"
        bad = page.evaluate(BROKEN_IMAGES_JS)
        if bad:
            broken[rel] = bad
    assert not offline.external, "requests left the machine:\n" + "\n".join(sorted(set(offline.external)))
    assert not offline.console_errors, "console errors:\n" + "\n".join(offline.console_errors)
    assert not broken, f"images that did not load: {broken}"
    local_failures = [f for f in offline.failed if f.startswith(server)]
    assert not local_failures, "local requests failed:\n" + "\n".join(local_failures)


def test_math_renders_from_the_build(site, server, offline):
    pages = [p for p in _pages(site) if "primer/" in p]
    assert pages, "no methods-primer pages in the site"
    page = offline.page()
    with_math = 0
    for rel in pages:
        page.goto(f"{server}/{quote(rel)}", wait_until="load")
        if page.locator("div.math, span.math").count():
            page.wait_for_selector("mjx-container", timeout=20_000)
            with_math += 1
    assert with_math, "no primer page has math to render"
    assert not offline.external, f"requests left the machine: {sorted(set(offline.external))}"


@pytest.mark.parametrize(("edition", "term"), [("", "医共体"), ("", "Anhui"), ("zh/", "签约"), ("zh/", "医共体"),
                                               ("zh/", "家庭医生"), ("zh/", "县聘乡用")])
def test_search_finds(edition, term, site, server, offline):
    if edition and not (site / edition / "search.html").exists():
        pytest.skip("no Chinese edition in this build")
    page = offline.page()
    page.goto(f"{server}/{edition}search.html?q={quote(term)}", wait_until="load")
    page.wait_for_function(
        "() => { const s = document.getElementById('search-progress');"
        " return document.querySelectorAll('#search-results ul.search li').length > 0"
        " || (s && s.innerText.trim().length > 0 && !s.innerText.includes('Preparing')); }",
        timeout=30_000,
    )
    hits = page.locator("#search-results ul.search li")
    assert hits.count() > 0, f"search for {term!r} found nothing: {page.inner_text('#search-results')[:300]}"
    assert not offline.console_errors, offline.console_errors


def test_exercise_solution_opens_on_click(site, server, offline):
    page = offline.page()
    page.goto(f"{server}/{_first(site, 'primer/01_*.html')}", wait_until="load")
    solution = page.locator("div.solution.dropdown").first
    assert solution.count() == 1, "no dropdown solution in the first primer chapter"
    body = solution.locator("section, p:not(.admonition-title)").first
    assert not body.is_visible(), "the solution is visible before it is opened"
    solution.locator(".admonition-title, button.toggle-button").first.click()
    body.wait_for(state="visible", timeout=5_000)
    assert body.is_visible()


def test_phone_width_case_chapter(site, server, browser):
    ctx = Offline(browser, server, viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    try:
        page = ctx.page()
        cases = sorted((site / "cases").glob("*.html")) if (site / "cases").exists() else []
        chapters = [c for c in cases if c.stem not in ("data", "synthesis")] or cases
        assert chapters, "no case chapter in the site"
        rel = chapters[0].relative_to(site).as_posix()
        page.goto(f"{server}/{quote(rel)}", wait_until="load")
        page.evaluate(BROKEN_IMAGES_JS)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "case_phone.png"), full_page=False)
        page.screenshot(path=str(SCREENSHOTS / "case_phone_full.png"), full_page=True)
        if (site / "zh" / rel).exists():  # the same chapter in the Chinese edition
            page.goto(f"{server}/zh/{quote(rel)}", wait_until="load")
            page.evaluate(BROKEN_IMAGES_JS)
            page.screenshot(path=str(SCREENSHOTS / "case_phone_zh.png"), full_page=False)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"zh/{rel} is {overflow}px wider than a {PHONE['width']}px phone screen"
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{rel} is {overflow}px wider than a {PHONE['width']}px phone screen"
        assert not ctx.external, f"requests left the machine: {sorted(set(ctx.external))}"
        assert (SCREENSHOTS / "case_phone.png").stat().st_size > 10_000
    finally:
        ctx.close()


def test_opens_from_file_url(site, browser):
    """A teacher double-clicks index.html: file:// pages render, with math and no network."""
    ctx = Offline(browser, "file://")
    try:
        page = ctx.page()
        page.goto(site.joinpath("index.html").as_uri(), wait_until="load")
        page.wait_for_load_state("load")
        page.wait_for_selector("main, article, .bd-article", timeout=15_000)
        assert page.title(), "index.html has no title"
        primer = sorted((site / "primer").glob("*.html"))
        assert primer, "no primer pages"
        for p in primer:
            page.goto(p.as_uri(), wait_until="load")
            if page.locator("div.math, span.math").count():
                page.wait_for_selector("mjx-container", timeout=20_000)
        assert not ctx.external, f"requests left the machine: {sorted(set(ctx.external))}"
        assert not ctx.console_errors, "console errors:\n" + "\n".join(ctx.console_errors)
    finally:
        ctx.close()



# Smallest rendered font size of an image's text (an <img> scaled to the column: the figure's own font in
# points times the shown width over the figure's natural width; the figures are drawn 5.2 in wide at 100 dpi
# with text of at least 10 pt, see primarycare.report.plots.MIN_FONT_PT).
PHONE_MEASURE_JS = """
() => {
  const out = {figures: [], clipped: [], tables_overflowing_page: 0};
  for (const img of document.querySelectorAll('.bd-article img')) {
    if (!img.naturalWidth) continue;
    out.figures.push({src: img.currentSrc || img.src, shown: img.getBoundingClientRect().width,
                      natural: img.naturalWidth});
  }
  const vw = window.innerWidth;
  for (const el of document.querySelectorAll('.bd-article .admonition, .bd-article details')) {
    const r = el.getBoundingClientRect();
    if (r.right > vw + 1 || r.left < -1) out.clipped.push(el.className + ': ' + Math.round(r.right));
  }
  for (const t of document.querySelectorAll('.bd-article table')) {
    const box = t.closest('.pc-scroll, .cell_output, .table-wrapper') || t;
    if (box.getBoundingClientRect().right > vw + 1) out.tables_overflowing_page += 1;
  }
  return out;
}
"""


def test_phone_figures_tables_and_boxes(site, server, browser):
    """At 390 px: figure text at least 9 CSS px (10 pt on a 5.2 in, 100 dpi figure scaled to its shown
    width), tables scroll inside their own box, admonition boxes are not clipped."""
    ctx = Offline(browser, server, viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    try:
        page = ctx.page()
        cases = [c for c in sorted((site / "cases").glob("*.html")) if c.stem not in ("data", "synthesis")]
        assert cases, "no case chapter in the site"
        for rel in [cases[0].relative_to(site).as_posix(), "intro.html"]:
            page.goto(f"{server}/{quote(rel)}", wait_until="load")
            page.evaluate(BROKEN_IMAGES_JS)
            m = page.evaluate(PHONE_MEASURE_JS)
            assert m["figures"], f"{rel}: no figures measured"
            for f in m["figures"]:
                if f["src"].endswith(".svg"):
                    continue  # SVGs are drawn 5.2 in wide with >= 10 pt text (checked in tests/test_readers.py)
                # a PNG of 5.2 in at 100 dpi has 520 px; 10 pt is 13.9 natural px
                px = 10 * 100 / 72 * f["shown"] / f["natural"]
                assert px >= 9.0, f"{rel}: figure {f['src']} text would be {px:.1f} px ({f})"
            assert not m["clipped"], f"{rel}: clipped boxes {m['clipped']}"
            assert m["tables_overflowing_page"] == 0, f"{rel}: tables wider than the screen"
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"{rel}: page is {overflow}px wider than the phone"
    finally:
        ctx.close()


def test_downloads_resolve_and_the_map_renders(site, server, offline):
    page = offline.page()
    cases = [c for c in sorted((site / "cases").glob("*.html")) if c.stem not in ("data", "synthesis", "real_record")]
    rel = cases[0].relative_to(site).as_posix()
    page.goto(f"{server}/{quote(rel)}", wait_until="load")
    links = page.eval_on_selector_all("a.download, a[download]", "els => els.map(e => e.href)")
    csv = [u for u in links if u.endswith(".csv")]
    assert len(csv) >= 2, f"{rel}: expected the panel slice and estimates downloads, got {links}"
    nb = page.eval_on_selector_all("a[href$='.ipynb']", "els => els.map(e => e.href)")
    assert nb, f"{rel}: no notebook download link"
    for u in csv + nb[:1]:
        r = page.request.get(u)
        assert r.ok and len(r.body()) > 100, f"download {u} failed: HTTP {r.status}"
    page.goto(f"{server}/intro.html", wait_until="load")
    imgs = page.eval_on_selector_all("img", "els => els.filter(i => i.naturalWidth > 0).map(i => i.src)")
    assert any("map" in u or "tile" in u for u in imgs), f"no map image on the introduction: {imgs}"
    assert not offline.external and not offline.console_errors, (offline.external, offline.console_errors)


def test_desktop_screenshot_of_a_case_chapter(site, server, browser):
    """A desktop-width screenshot of the first case chapter (book/_build/screenshots/case_desktop.png)."""
    ctx = Offline(browser, server, viewport={"width": 1280, "height": 900})
    try:
        page = ctx.page()
        cases = [c for c in sorted((site / "cases").glob("*.html")) if c.stem not in ("data", "synthesis", "real_record")]
        page.goto(f"{server}/{quote(cases[0].relative_to(site).as_posix())}", wait_until="load")
        page.evaluate(BROKEN_IMAGES_JS)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "case_desktop.png"), full_page=False)
        assert (SCREENSHOTS / "case_desktop.png").stat().st_size > 10_000
        assert not ctx.external and not ctx.console_errors, (ctx.external, ctx.console_errors)
    finally:
        ctx.close()


def test_language_switch_lands_on_the_same_page(site, server, offline):
    """Each page's switch leads to the same page in the other edition, and back (over HTTP and file://)."""
    if not (site / "zh" / "index.html").exists():
        pytest.skip("no Chinese edition in this build")
    page = offline.page()
    for rel in [_first(site, "cases/anhui.html"), _first(site, "primer/01_*.html"), "glossary.html"]:
        page.goto(f"{server}/{quote(rel)}", wait_until="load")
        page.locator("p.pc-lang-switch a").first.click()
        page.wait_for_load_state("load")
        assert page.url == f"{server}/zh/{rel}", (rel, page.url)
        assert page.evaluate("document.documentElement.lang").startswith("zh")
        page.locator("p.pc-lang-switch a").first.click()
        page.wait_for_load_state("load")
        assert page.url == f"{server}/{rel}", (rel, page.url)
    page.goto((site / "zh" / "cases" / "anhui.html").as_uri(), wait_until="load")
    page.locator("p.pc-lang-switch a").first.click()
    page.wait_for_load_state("load")
    assert page.url == (site / "cases" / "anhui.html").as_uri()
    assert not offline.console_errors, "console errors:\n" + "\n".join(offline.console_errors)
