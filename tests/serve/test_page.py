"""The search page in headless Chromium (Debian ``chromium`` driven by Playwright) against a live server:
type a query, drop an image, choose an audio file; results, scores and thumbnails match the API."""

from __future__ import annotations

import base64
import re
import time

import httpx
import pytest

from omnivec.serve import ServeSettings, create_app

KEY = "sk-page-test"
QUERY = "sunset over the beach"


def _api_search(url: str, query: dict) -> list[dict]:
    r = httpx.post(f"{url}/v1/search", json={"query": query, "k": 10},
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


def test_search_page_in_headless_chromium(
    chromium, tiny_model, fake_index, media_root, live_server, media, tmp_path
):
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    settings = ServeSettings(model_name="omnivec-tiny", media_root=media_root, api_keys=(KEY,))
    server = live_server(create_app(tiny_model, index=fake_index, settings=settings))
    problems: list[str] = []
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
            page.goto(server.url + "/")
            _wait_until(
                page,
                "() => document.querySelector('[data-testid=server-info]').textContent.includes('indexed')",
            )
            assert f"{fake_index.size} items indexed" in page.text_content("[data-testid=server-info]")

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
        finally:
            browser.close()
    assert not problems, problems
