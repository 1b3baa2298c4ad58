"""The search page in headless Chromium (Debian ``chromium`` driven by Playwright) against a live server:
type a query, drop an image, choose an audio file; results, scores and thumbnails match the API; pick a search
mode (lexical, hybrid with each side's rank) over an index with a lexical part."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from serve_helpers import TEXT_ROWS

from omnivec.serve import ServeSettings, create_app

KEY = "sk-page-test"
QUERY = "sunset over the beach"


def _api_search(url: str, query: dict, **options: object) -> list[dict]:
    r = httpx.post(f"{url}/v1/search", json={"query": query, "k": 10, **options},
                   headers={"Authorization": f"Bearer {KEY}"}, timeout=10)  # fmt: skip
    assert r.status_code == 200, r.text
    return r.json()["data"]


def _cards(page) -> list[tuple[str, str]]:
    return page.eval_on_selector_all(
        "[data-testid=result]", "els => els.map(e => [e.dataset.id, e.querySelector('.score').textContent])"
    )


def _drop(page, data: bytes, name: str, mime: str) -> None:
    """Dispatch a real ``drop`` event carrying a File, as a drag from the desktop would."""
    page.evaluate(
        """([b64, name, mime]) => {
            const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], name, {type: mime}));
            const zone = document.querySelector('[data-testid=drop]');
            zone.dispatchEvent(new DragEvent('dragover', {dataTransfer: dt, bubbles: true, cancelable: true}));
            zone.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
        }""",
        [base64.b64encode(data).decode(), name, mime],
    )


def _wait_until(page, predicate: str, arg: object = None, timeout: float = 15.0) -> None:
    """Poll ``predicate`` (a JS function) with ``page.evaluate`` until it is truthy. (Playwright's own
    ``wait_for_function`` polls with ``eval`` inside the page, which the page's strict CSP refuses.)"""
    deadline = time.monotonic() + timeout
    while not page.evaluate(predicate, arg):
        assert time.monotonic() < deadline, f"timed out waiting for {predicate}"
        time.sleep(0.05)


def _status_has(page, text: str) -> None:
    _wait_until(page, "t => document.querySelector('[data-testid=status]').textContent.includes(t)", text)


def _wait_for_results(page, expected: list[dict]) -> None:
    want = [(h["id"], f"{h['score']:.3f}") for h in expected]
    _wait_until(
        page,
        "n => document.querySelector('[data-testid=status]').textContent.startsWith(n + ' result')",
        len(expected),
    )
    assert _cards(page) == [list(w) for w in want]


def _mode_options(page) -> dict[str, bool]:
    """The mode selector's options: value → enabled."""
    return dict(
        page.eval_on_selector_all("[data-testid=mode] option", "os => os.map(o => [o.value, !o.disabled])")
    )


@contextmanager
def _browser_page(chromium, url: str, problems: list[str]) -> Iterator:
    """A headless Chromium page on ``url``, once the page has loaded the server info; console errors, page
    errors and failed requests are appended to ``problems``. Skips the test when Chromium cannot start."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        try:
            browser = pw.chromium.launch(
                executable_path=chromium.path, headless=True, args=chromium.args, timeout=30_000
            )
        except PlaywrightError as exc:
            pytest.skip(f"chromium could not be launched by playwright: {exc}")
        try:
            page = browser.new_page()
            page.set_default_timeout(15_000)
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("requestfailed", lambda r: problems.append(f"failed {r.url}"))
            page.goto(url + "/")
            _wait_until(
                page,
                "() => document.querySelector('[data-testid=server-info]').textContent.includes('indexed')",
            )
            yield page
        finally:
            browser.close()


def test_search_page_in_headless_chromium(
    chromium, tiny_model, fake_index, media_root, live_server, media, tmp_path
):
    settings = ServeSettings(model_name="omnivec-tiny", media_root=media_root, api_keys=(KEY,))
    server = live_server(create_app(tiny_model, index=fake_index, settings=settings))
    problems: list[str] = []
    with _browser_page(chromium, server.url, problems) as page:
        assert f"{fake_index.size} items indexed" in page.text_content("[data-testid=server-info]")
        # an index without a lexical part: only dense can be picked
        assert page.input_value("[data-testid=mode]") == "dense"
        assert _mode_options(page) == {"dense": True, "lexical": False, "hybrid": False}

        # 1. a text query without the key: the page says what is wrong
        page.fill("[data-testid=query]", QUERY)
        page.click("[data-testid=search]")
        _status_has(page, "API key")
        assert page.locator("[data-testid=result]").count() == 0
        problems.clear()  # the 401 itself is logged by the browser as a failed resource

        # 2. with the key: the cards are the API's results, in order, with the same scores
        page.fill("[data-testid=api-key]", KEY)
        page.click("[data-testid=search]")
        expected = _api_search(server.url, {"text": QUERY})
        _wait_for_results(page, expected)
        with_thumbs = [h["id"] for h in expected if h["thumbnail"]]
        assert set(with_thumbs) == {"beach", "pasta", "guitar", "dog"}
        _wait_until(
            page,
            "n => [...document.querySelectorAll('img.thumb')].filter(i => i.complete && i.naturalWidth > 0)"
            ".length === n",
            len(with_thumbs),
        )
        thumb_ids = page.eval_on_selector_all(
            "img.thumb", "els => els.map(e => e.closest('[data-testid=result]').dataset.id)"
        )
        assert sorted(thumb_ids) == sorted(with_thumbs)
        beach = page.locator("[data-testid=result][data-id=beach]")
        assert "travel, beach" in beach.text_content()
        assert re.search(r"#\d", beach.text_content())

        # 3. drop an image: text + image query, run on drop
        png = media.png((250, 150, 40), (64, 40))
        _drop(page, png, "cover.png", "image/png")
        page.wait_for_selector("[data-testid=preview] img")
        _wait_for_results(
            page, _api_search(server.url, {"text": QUERY, "image": media.uri(png, "image/png")})
        )

        # 4. choose an audio file with the file picker, without text
        page.click("[data-testid=clear-file]")
        page.fill("[data-testid=query]", "")
        wav_path = tmp_path / "tune.wav"
        wav_path.write_bytes(media.wav())
        page.set_input_files("[data-testid=file]", str(wav_path))
        page.wait_for_selector("[data-testid=preview] audio")
        _wait_for_results(page, _api_search(server.url, {"audio": media.uri(media.wav(), "audio/wav")}))

        # 5. a video file too, and an unsupported file is refused on the page
        page.click("[data-testid=clear-file]")
        _drop(page, media.mp4(), "clip.mp4", "video/mp4")
        page.wait_for_selector("[data-testid=preview] video")
        _wait_for_results(page, _api_search(server.url, {"video": media.uri(media.mp4(), "video/mp4")}))
        _drop(page, b"hello", "notes.txt", "text/plain")
        _status_has(page, "unsupported file type")
    assert not problems, problems


def _sides(page) -> list[dict[str, int | None]]:
    """Per card, the hybrid details it shows: side → rank (``None``: not among that side's candidates)."""
    return page.eval_on_selector_all(
        "[data-testid=result]",
        "els => els.map(e => Object.fromEntries([...e.querySelectorAll('[data-testid=details] .side')]"
        ".map(s => [s.dataset.side, s.classList.contains('missing') ? null : Number(s.dataset.rank)])))",
    )


def test_search_page_modes_in_headless_chromium(chromium, tiny_model, lexical_index, live_server, media):
    settings = ServeSettings(model_name="omnivec-tiny", api_keys=(KEY,), search_mode="hybrid")
    server = live_server(create_app(tiny_model, index=lexical_index, settings=settings))
    problems: list[str] = []
    sent: list[dict] = []
    text = "X7-200 charger"
    with _browser_page(chromium, server.url, problems) as page:
        page.on("request", lambda r: sent.append(r.post_data_json) if r.url.endswith("/v1/search") else None)
        # the server's default mode is preselected (the page's own default is dense); all modes can run
        assert page.input_value("[data-testid=mode]") == "hybrid"
        assert _mode_options(page) == {"dense": True, "lexical": True, "hybrid": True}

        # 1. lexical: the request says so, the cards are the API's BM25 results, no per-side details
        page.fill("[data-testid=api-key]", KEY)
        page.fill("[data-testid=query]", text)
        page.select_option("[data-testid=mode]", "lexical")
        page.click("[data-testid=search]")
        expected = _api_search(server.url, {"text": text}, mode="lexical")
        assert expected and len(expected) < len(TEXT_ROWS)  # BM25 finds only the items sharing a word
        _wait_for_results(page, expected)
        _status_has(page, "· lexical")
        assert sent == [{"query": {"text": text}, "k": 10, "mode": "lexical"}]
        assert page.eval_on_selector_all("[data-testid=details]", "els => els.every(e => e.hidden)")

        # 2. switching to hybrid re-runs the search; each card shows its rank on each side
        page.select_option("[data-testid=mode]", "hybrid")
        _status_has(page, "· hybrid (rrf)")
        assert sent[-1] == {"query": {"text": text}, "k": 10, "mode": "hybrid"} and len(sent) == 2
        expected = _api_search(server.url, {"text": text}, mode="hybrid")
        cards = _cards(page)
        assert [c[0] for c in cards] == [h["id"] for h in expected]
        assert [float(c[1]) for c in cards] == [pytest.approx(h["score"], rel=1e-2) for h in expected]
        shown = _sides(page)
        assert shown == [
            {s: h["details"].get(s, {}).get("rank") for s in ("dense", "lexical")} for h in expected
        ]
        assert any(s["lexical"] is None for s in shown) and any(s["lexical"] == 1 for s in shown)

        # 3. an image without text in hybrid mode runs dense, and the status says why
        page.fill("[data-testid=query]", "")
        png = media.png((250, 150, 40), (64, 40))
        _drop(page, png, "cover.png", "image/png")
        _status_has(page, "· dense (no query text)")
        assert sent[-1]["mode"] == "dense" and set(sent[-1]["query"]) == {"image"}
        _wait_for_results(page, _api_search(server.url, {"image": media.uri(png, "image/png")}))

        # 4. lexical with a file is refused on the page, without a request
        page.select_option("[data-testid=mode]", "lexical")
        _status_has(page, "lexical search matches text only")
        assert len(sent) == 3
    assert not problems, problems
