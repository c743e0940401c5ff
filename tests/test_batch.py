"""Batches: many texts to many files, resumable, paced by the rate-limit headers, failures kept
to their item. Against the rate-limited loopback stub (testkit/ratelimit.py), which counts every
request per text, and once against the offline engine."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from testkit.ratelimit import RateLimitedStub, stub_audio
from venice_nb import VeniceClient, session
from venice_nb.core.batch import (
    BatchItem,
    BatchProgress,
    plan_batch,
    read_batch_file,
    run_batch,
    sanitize_name,
    speak_many_async,
)
from venice_nb.core.batch.engine import LOCK_NAME
from venice_nb.core.errors import AuthenticationError, InvalidRequestError
from venice_nb.core.ratelimit import RateLimitPacer

ROOT = Path(__file__).resolve().parents[1]
KEY = "test-key"
TEXTS = [f"This is sentence number {i}." for i in range(12)]


@pytest.fixture
async def stub() -> AsyncIterator[RateLimitedStub]:
    async with RateLimitedStub(limit=1000, window=10.0) as server:
        yield server


@pytest.fixture
async def client(stub: RateLimitedStub) -> AsyncIterator[VeniceClient]:
    async with VeniceClient(api_key=KEY, base_url=stub.base_url, backoff=0.01) as c:
        yield c


def audio_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if not p.name.startswith(".")}


def leftovers(folder: Path) -> list[str]:
    """Hidden or partial files, except the folder's lock (which stays; its lock does not)."""
    return [
        p.name
        for p in folder.iterdir()
        if p.name != LOCK_NAME and (p.name.startswith(".") or p.suffix == ".part")
    ]


def sent(stub: RateLimitedStub) -> int:
    return sum(stub.attempts.values())


# -- inputs ---------------------------------------------------------------------------------------
async def test_a_list_becomes_one_complete_file_per_item(
    stub: RateLimitedStub, client: VeniceClient, tmp_path: Path
) -> None:
    result = await speak_many_async(client, TEXTS, out_dir=tmp_path / "out", voice="af_sky")
    assert result.ok and len(result.done) == len(TEXTS) and not result.failed
    files = audio_files(tmp_path / "out")
    assert len(files) == len(TEXTS)
    for item in result.items:
        assert item.path.name == f"{item.index + 1:04d}-this_is_sentence_number_{item.index}.mp3"
        assert files[item.path.name] == stub_audio(item.text, "af_sky", "mp3")
    assert all(stub.attempts[t] == 1 for t in TEXTS)
    assert result.cost_usd is not None and result.cost_usd > 0  # the catalog prices tts-kokoro


async def test_a_dict_names_files_by_its_keys_and_rows_may_pick_voice_and_model(
    stub: RateLimitedStub, client: VeniceClient, tmp_path: Path
) -> None:
    texts = {"intro": "Welcome, everyone.", "outro.wav": "Thanks for listening.", 7: "Seven."}
    result = await speak_many_async(client, texts, out_dir=tmp_path, format="wav")
    assert sorted(audio_files(tmp_path)) == ["7.wav", "intro.wav", "outro.wav"]
    rows = [
        BatchItem(text="Hello there.", name="a", voice="bm_george"),
        {"text": "Good night.", "name": "b", "model": "tts-kokoro", "voice": "af_sky"},
    ]
    result = await speak_many_async(client, rows, out_dir=tmp_path / "rows")
    assert result.ok
    files = audio_files(tmp_path / "rows")
    assert files["a.mp3"] == stub_audio("Hello there.", "bm_george", "mp3")
    assert files["b.mp3"] == stub_audio("Good night.", "af_sky", "mp3")


async def test_a_pandas_series_or_dataframe_names_files_by_its_index(
    stub: RateLimitedStub, client: VeniceClient, tmp_path: Path
) -> None:
    pandas = pytest.importorskip("pandas")
    series = pandas.Series(["First line.", "Second line."], index=["one", "two"])
    result = await speak_many_async(client, series, out_dir=tmp_path / "s")
    assert result.ok and sorted(audio_files(tmp_path / "s")) == ["one.mp3", "two.mp3"]
    frame = pandas.DataFrame(
        {"text": ["Alpha.", "Beta."], "voice": ["bm_george", None]}, index=[10, 11]
    )
    result = await speak_many_async(client, frame, out_dir=tmp_path / "f")
    files = audio_files(tmp_path / "f")
    assert files["10.mp3"] == stub_audio("Alpha.", "bm_george", "mp3")
    assert files["11.mp3"] == stub_audio("Beta.", "af_heart", "mp3")  # NaN: the default voice


def test_csv_and_jsonl_rows_with_optional_columns(tmp_path: Path) -> None:
    csv_file = tmp_path / "in.csv"
    csv_file.write_text('\ufefftext,name,voice\n"Hi, you.",hi,\nBye., ,bm_george\n', "utf-8")
    assert read_batch_file(csv_file) == [  # a blank cell: the default (an automatic name)
        BatchItem(text="Hi, you.", name="hi"),
        BatchItem(text="Bye.", voice="bm_george"),
    ]
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text('{"text": "One.", "name": 1}\n\n{"text": "Two.", "model": "tts-kokoro"}\n')
    assert read_batch_file(jsonl) == [
        BatchItem(text="One.", name="1"),
        BatchItem(text="Two.", model="tts-kokoro"),
    ]


def test_names_become_safe_file_names() -> None:
    assert sanitize_name("../../etc/passwd") == "etc_passwd"
    assert sanitize_name("Chapter 1: the start", extension="mp3") == "Chapter_1_the_start"
    assert sanitize_name("intro.mp3", extension="mp3") == "intro"
    assert sanitize_name("CON") == "_CON"
    assert sanitize_name(".hidden") == "hidden"
    assert sanitize_name("日本語 テキスト") == "日本語_テキスト"
    assert sanitize_name("///") == ""


# -- bad input, refused before any request ---------------------------------------------------------
@pytest.mark.parametrize(
    ("texts", "kwargs", "says"),
    [
        (["Fine.", "   "], {}, "item 2 has no text"),
        (["Fine.", "x" * 4097], {}, "over the 4096-character limit"),
        (["A.", "B."], {"names": ["Intro", "intro"]}, "would both be written to Intro.mp3"),
        ({"a/b": "A.", "a b": "B."}, {}, "names must be unique"),
        (["A."], {"format": "ogg"}, "Unknown format 'ogg'; use one of mp3, opus"),
        ("Just one string.", {}, "give a list of texts"),
        ({"a": "A."}, {"names": ["x"]}, "names= is only for a list"),
        (["A.", "B."], {"names": ["x"]}, "names has 1 entries for 2 texts"),
        (["A."], {"names": ["///"]}, "no letters or digits"),
        ([{"text": "A.", "voise": "af_sky"}], {}, "unknown column 'voise'"),
        ([{"text": 5}], {}, "text must be a string, got int"),
        ([], {}, "no texts in the batch"),
        (
            ["One two three four five six seven eight nine ten " * 3],
            {"model": "tts-qwen3-0-6b"},
            "split it",
        ),
        (["A."], {"pitch": 2}, "Unknown option pitch"),
    ],
)
def test_bad_input_names_what_is_wrong_and_the_fix(
    tmp_path: Path, texts: object, kwargs: dict[str, object], says: str
) -> None:
    with pytest.raises(InvalidRequestError) as info:
        plan_batch(texts, out_dir=tmp_path / "out", **kwargs)  # type: ignore[arg-type]
    assert says in str(info.value)
    assert not (tmp_path / "out").exists()


def test_a_missing_value_in_a_series_is_named(tmp_path: Path) -> None:
    pandas = pytest.importorskip("pandas")
    with pytest.raises(InvalidRequestError, match=r"item 'b': text .* \(a missing value\?\)"):
        plan_batch(pandas.Series(["A.", None], index=["a", "b"]), out_dir=tmp_path)


def test_an_out_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.write_text("x")
    with pytest.raises(InvalidRequestError, match="is a file; give a folder"):
        plan_batch(["A."], out_dir=target)
    with pytest.raises(InvalidRequestError, match="cannot be created"):
        plan_batch(["A."], out_dir=target / "sub")


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("in.csv", "words,name\nHello,a\n", "no 'text' column (its header is 'words', 'name')"),
        ("in.csv", "text\nA, B\n", "line 2 has more cells than the header"),
        ("in.csv", "text,name\n,a\n", "item 'a' has no text"),
        ("in.jsonl", '{"text": "A."}\n{"text": "B."\n', "in.jsonl line 2 is not JSON"),
        ("in.jsonl", '["A."]\n', "is a JSON list, not an object"),
        ("in.txt", "A.\n", "neither .csv nor .jsonl"),
        ("in.csv", "text\n", "has no rows"),
    ],
)
def test_bad_batch_files_name_the_line_and_the_fix(
    tmp_path: Path, name: str, content: str, says: str
) -> None:
    path = tmp_path / name
    path.write_text(content, "utf-8")
    with pytest.raises(InvalidRequestError) as info:
        plan_batch(read_batch_file(path), out_dir=tmp_path / "out")
    assert says in str(info.value)


async def test_an_unknown_voice_is_refused_before_any_speech_request(
    stub: RateLimitedStub, client: VeniceClient, tmp_path: Path
) -> None:
    rows = [BatchItem(text="A.", name="a"), BatchItem(text="B.", name="b", voice="af_hart")]
    with pytest.raises(InvalidRequestError, match=r"Item 'b': Voice 'af_hart' .*af_heart"):
        await speak_many_async(client, rows, out_dir=tmp_path)
    assert sent(stub) == 0


# -- resuming -------------------------------------------------------------------------------------
async def test_a_rerun_skips_complete_files_and_redoes_empty_or_partial_ones(
    stub: RateLimitedStub, client: VeniceClient, tmp_path: Path
) -> None:
    first = await speak_many_async(client, TEXTS, out_dir=tmp_path)
    assert first.ok and sent(stub) == len(TEXTS)
    again = await speak_many_async(client, TEXTS, out_dir=tmp_path)
    assert len(again.skipped) == len(TEXTS) and sent(stub) == len(TEXTS)
    victim, cut = first.items[3].path, first.items[5].path
    victim.write_bytes(b"")  # an empty file is not complete
    cut.unlink()  # a killed run's temporary file does not count and is cleaned up
    (tmp_path / f".{cut.name}.x1y2z3.part").write_bytes(b"STUB half")
    third = await speak_many_async(client, TEXTS, out_dir=tmp_path)
    assert sorted(r.name for r in third.done) == sorted([first.items[3].name, first.items[5].name])
    assert victim.read_bytes() == stub_audio(TEXTS[3], "af_heart", "mp3")
    assert leftovers(tmp_path) == []


async def test_a_cancelled_batch_loses_nothing_and_a_rerun_sends_no_item_twice(
    tmp_path: Path,
) -> None:
    texts = [f"Item {i} of a long batch." for i in range(40)]
    async with (
        RateLimitedStub(limit=1000, latency=0.05) as stub,
        VeniceClient(api_key=KEY, base_url=stub.base_url) as client,
    ):
        plan = plan_batch(texts, out_dir=tmp_path)
        ten_done = asyncio.Event()

        def on_progress(p: BatchProgress) -> None:
            if p.done >= 10:
                ten_done.set()

        task = asyncio.create_task(run_batch(client, plan, concurrency=4, on_progress=on_progress))
        await ten_done.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        written = audio_files(tmp_path)
        assert 10 <= len(written) < len(texts)
        assert leftovers(tmp_path) == []
        for item in plan.items:  # a file is there only whole; every answer sent was written
            if item.path.name in written:
                assert written[item.path.name] == stub_audio(item.text, "af_heart", "mp3")
            assert stub.served[item.text] == (1 if item.path.name in written else 0)
        rest = await run_batch(client, plan, concurrency=4)
        assert rest.ok and len(rest.skipped) == len(written)
        assert all(stub.attempts[t] == 1 for t in texts)
        assert len(audio_files(tmp_path)) == len(texts)


async def test_a_second_run_into_the_same_folder_is_refused_while_the_first_runs(
    tmp_path: Path,
) -> None:
    """Two runs at once would both send the missing items and write the same files: the second
    is refused before any request, the first finishes everything once, and a run after it is
    welcome (the lock goes with the run that held it)."""
    texts = [f"Item {i} of a shared folder." for i in range(20)]
    async with (
        RateLimitedStub(limit=1000, latency=0.05) as stub,
        VeniceClient(api_key=KEY, base_url=stub.base_url) as client,
    ):
        started = asyncio.Event()

        def on_progress(p: BatchProgress) -> None:
            if p.done >= 1:
                started.set()

        first = asyncio.create_task(
            run_batch(client, plan_batch(texts, out_dir=tmp_path), on_progress=on_progress)
        )
        await started.wait()
        sent_before = sent(stub)
        with pytest.raises(InvalidRequestError, match="Another batch is writing into") as info:
            await run_batch(client, plan_batch(texts, out_dir=tmp_path))
        assert info.value.param == "out_dir" and str(tmp_path) in str(info.value)
        assert sent(stub) - sent_before <= 4  # only the first run's requests in flight
        result = await first
        assert result.ok and len(result.done) == len(texts)
        assert all(stub.attempts[t] == 1 for t in texts)
        again = await run_batch(client, plan_batch(texts, out_dir=tmp_path))
        assert len(again.skipped) == len(texts) and sent(stub) == len(texts)


# -- limits and failures --------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["fixed", "sliding"])
async def test_the_rate_limit_headers_slow_the_batch_before_a_429(
    tmp_path: Path, kind: str
) -> None:
    texts = TEXTS + [f"And one more, number {i}." for i in range(8)]
    async with (  # answers take long enough that some arrive after the window moved on
        RateLimitedStub(limit=5, window=0.5, kind=kind, latency=0.06) as stub,  # type: ignore[arg-type]
        VeniceClient(api_key=KEY, base_url=stub.base_url) as client,
    ):
        result = await speak_many_async(client, texts, out_dir=tmp_path)
    assert result.ok and result.slowdowns >= 3
    assert stub.rejected_429 == 0 and result.rate_limited == 0
    assert all(stub.attempts[t] == 1 for t in texts)


async def test_429_and_5xx_delay_their_item_and_other_4xx_fail_only_theirs(
    stub: RateLimitedStub, client: VeniceClient, tmp_path: Path
) -> None:
    stub.fail(TEXTS[0], 429)
    stub.fail(TEXTS[1], 503, 500)
    stub.fail(TEXTS[2], 400)
    stub.fail(TEXTS[3], 422)
    stub.fail(TEXTS[4], 500, 500, 500)
    result = await speak_many_async(client, TEXTS, out_dir=tmp_path, max_attempts=3)
    by_text = {r.text: r for r in result.items}
    assert by_text[TEXTS[0]].status == "done" and by_text[TEXTS[0]].attempts == 2
    assert by_text[TEXTS[1]].status == "done" and by_text[TEXTS[1]].attempts == 3
    assert by_text[TEXTS[2]].status == "failed" and by_text[TEXTS[2]].http_status == 400
    assert "Invalid request parameters" in (by_text[TEXTS[2]].reason or "")
    assert by_text[TEXTS[3]].status == "failed" and "content policy" in (
        by_text[TEXTS[3]].reason or ""
    )
    assert by_text[TEXTS[4]].status == "failed"
    assert "gave up after 3 attempts" in (by_text[TEXTS[4]].reason or "")
    assert len(result.done) == len(TEXTS) - 3 and result.rate_limited == 1
    assert not (tmp_path / by_text[TEXTS[2]].path.name).exists()
    assert all(stub.attempts[t] == 1 for t in TEXTS[5:])


async def test_a_rejected_key_stops_the_batch_after_one_request(
    stub: RateLimitedStub, tmp_path: Path
) -> None:
    async with VeniceClient(api_key="wrong-key", base_url=stub.base_url) as client:
        with pytest.raises(AuthenticationError):
            await speak_many_async(client, TEXTS, out_dir=tmp_path)
    assert sent(stub) == 1 and audio_files(tmp_path) == {}


def limit_headers(remaining: int, reset: float) -> dict[str, str]:
    return {
        "x-ratelimit-limit-requests": "10",
        "x-ratelimit-remaining-requests": str(remaining),
        "x-ratelimit-reset-requests": str(reset),
    }


async def test_the_pacer_probes_first_then_spends_what_the_headers_allow() -> None:
    now = 1_700_000_000.0
    pacer = RateLimitPacer(clock=lambda: now)
    probe = await pacer.acquire()
    second = asyncio.create_task(pacer.acquire())
    await asyncio.sleep(0)
    assert not second.done()  # one request learns the window before the others go
    pacer.observe(probe, limit_headers(2, now + 5), 200)
    tickets = [await second, await pacer.acquire()]
    assert pacer.available == 0
    third = asyncio.create_task(pacer.acquire())
    await asyncio.sleep(0)
    assert not third.done() and pacer.state.waiting_until is not None
    pacer.observe(tickets[1], limit_headers(5, now + 5), 200)  # an older count arrives late
    pacer.observe(tickets[0], limit_headers(0, now + 5), 200)  # same window: the lowest wins
    await asyncio.sleep(0)
    assert not third.done() and pacer.available == 0
    pacer.observe(tickets[0], limit_headers(9, now + 15), 200)  # a newer window opened
    assert await third == 3 and pacer.slowdowns == 1


async def test_the_pacer_believes_counts_whose_reset_time_passed_in_flight() -> None:
    now = [1_700_000_000.0]
    pacer = RateLimitPacer(clock=lambda: now[0])
    probe = await pacer.acquire()
    reset = now[0] + 0.01  # a sliding window whose oldest request is about to leave
    pacer.observe(probe, limit_headers(4, reset), 200)
    tickets = [await pacer.acquire() for _ in range(4)]
    now[0] += 0.05  # the answers arrive after that reset time; they still count
    for ticket, left in zip(tickets, (3, 2, 1, 0), strict=True):
        pacer.observe(ticket, limit_headers(left, reset), 200)
    assert pacer.available == 0
    now[0] += 0.1  # past the reset and the pacer's margin
    fifth = asyncio.create_task(pacer.acquire())
    await asyncio.sleep(0)
    assert fifth.done() and pacer._probe == await fifth  # the reset passed: probe, one alone
    sixth = asyncio.create_task(pacer.acquire())
    await asyncio.sleep(0)
    assert not sixth.done()
    sixth.cancel()


async def test_the_pacer_leaves_a_server_without_limits_alone() -> None:
    pacer = RateLimitPacer()
    first = await pacer.acquire()
    pacer.observe(first, {"content-type": "audio/mpeg"}, 200)
    tickets = [await pacer.acquire() for _ in range(20)]  # none of them waits
    assert tickets == list(range(1, 21)) and pacer.available is None


# -- speak_many: the sync API with its summary ----------------------------------------------------
@pytest.fixture
def threaded_stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[RateLimitedStub]:
    """The stub on a thread of its own, and the session's backend pointed at it."""
    stub = RateLimitedStub(limit=1000)
    with stub.in_thread() as base_url:
        monkeypatch.setenv("VENICE_BASE_URL", base_url)
        monkeypatch.setenv("VENICE_API_KEY", KEY)
        monkeypatch.setattr(session, "_backend", None)
        yield stub
    session.reset_backend()


def test_speak_many_reports_done_skipped_and_each_failure_with_its_reason(
    threaded_stub: RateLimitedStub, tmp_path: Path
) -> None:
    import venice_nb

    pandas = pytest.importorskip("pandas")
    threaded_stub.fail("Broken.", 400)
    (tmp_path / "done.mp3").write_bytes(b"already here")
    texts = {"done": "Old.", "ok": "Fine.", "bad": "Broken."}
    report = venice_nb.speak_many(texts, out_dir=tmp_path, progress=False)
    assert report.counts == {"done": 1, "skipped": 1, "failed": 1, "pending": 0}
    summary = report.summary()
    assert isinstance(summary, pandas.DataFrame)
    assert summary.loc["failed", "items"] == 1 and summary.loc["done", "items"] == 1
    failures = report.failures()
    assert list(failures.index) == ["bad"]
    assert "Invalid request parameters" in failures.loc["bad", "reason"]
    assert "bad: Invalid request parameters" in repr(report)
    assert "<td>bad</td>" in report._repr_html_()
    assert len(report.to_frame()) == 3


async def test_speak_many_works_where_an_event_loop_is_running_as_in_a_notebook(
    threaded_stub: RateLimitedStub, tmp_path: Path
) -> None:
    import venice_nb

    asyncio.get_running_loop()  # a kernel's loop: speak_many must not need this thread's loop
    report = venice_nb.speak_many(TEXTS[:2], out_dir=tmp_path, progress=False)
    assert report.ok and len(report.done) == 2


def test_bad_run_options_are_refused_before_anything_starts(tmp_path: Path) -> None:
    import venice_nb

    with pytest.raises(InvalidRequestError, match="concurrency must be a whole number >= 1"):
        venice_nb.speak_many(["A."], out_dir=tmp_path / "o", concurrency=0)
    with pytest.raises(InvalidRequestError, match="requests_per_second must be a number > 0"):
        venice_nb.speak_many(["A."], out_dir=tmp_path / "o", requests_per_second=-1)
    assert not (tmp_path / "o").exists()


def test_speak_many_draws_a_text_progress_bar_outside_notebooks(
    threaded_stub: RateLimitedStub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import venice_nb

    report = venice_nb.speak_many(TEXTS[:3], out_dir=tmp_path, progress_file=sys.stderr)
    assert report.ok
    err = capsys.readouterr().err
    assert "Speaking: 100%" in err and "3/3" in err and "done 3, skipped 0, failed 0" in err
    for frame in re.split(r"[\r\n]", err):  # every drawn count agrees with its own text
        count = re.search(r"\b(\d+)/3\b", frame)
        parts = re.search(r"done (\d+), skipped (\d+), failed (\d+)", frame)
        if count and parts:
            assert int(count.group(1)) == sum(map(int, parts.groups())), frame


# -- the command line -----------------------------------------------------------------------------
def test_cli_batch_from_csv_and_jsonl(
    threaded_stub: RateLimitedStub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from venice_nb.cli import main

    threaded_stub.fail("Refused.", 400)
    csv_file = tmp_path / "lines.csv"
    csv_file.write_text("name,text,voice\ngreet,Hello there.,bm_george\nno,Refused.,\n")
    assert main(["speak", "--batch", str(csv_file), "--out-dir", str(tmp_path / "c")]) == 7
    out, err = capsys.readouterr()
    assert "2 items: 1 done, 0 skipped, 1 failed" in out
    assert "venice-nb: no failed: Invalid request parameters" in err
    assert (tmp_path / "c" / "greet.mp3").read_bytes() == stub_audio(
        "Hello there.", "bm_george", "mp3"
    )
    jsonl = tmp_path / "lines.jsonl"
    jsonl.write_text("\n".join(json.dumps({"text": t}) for t in TEXTS[:4]))
    argv = ["speak", "--batch", str(jsonl), "--out-dir", str(tmp_path / "j"), "--format", "wav"]
    assert main(argv) == 0
    assert len(list((tmp_path / "j").glob("*.wav"))) == 4
    assert "4 items: 4 done" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["speak", "Hi", "--batch", "x.csv", "--out-dir", "d"], "drop TEXT"),
        (["speak", "--batch", "x.csv", "--out", "a.mp3", "--out-dir", "d"], "drop --out"),
        (["speak", "--batch", "x.csv"], "--batch needs --out-dir DIR"),
        (["speak", "Hi", "--out-dir", "d"], "--out-dir is for --batch FILE"),
        (["speak", "Hi"], "Say where to write the audio: --out FILE"),
        (["speak", "--batch", "missing.csv", "--out-dir", "d"], "does not exist"),
    ],
)
def test_cli_refuses_clashing_or_missing_arguments_in_one_line(
    argv: list[str],
    says: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from venice_nb.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("venice-nb: ") and says in err and "\n" not in err


@pytest.mark.slow
async def test_cli_batch_killed_midway_then_rerun_sends_no_item_twice(tmp_path: Path) -> None:
    texts = [f"Row {i} of the file." for i in range(120)]
    batch = tmp_path / "rows.csv"
    batch.write_text("text\n" + "\n".join(texts) + "\n")
    out_dir = tmp_path / "out"
    async with RateLimitedStub(limit=1000, latency=0.05) as stub:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "VENICE_BASE_URL": stub.base_url,
            "VENICE_API_KEY": KEY,
        }
        argv = [sys.executable, "-m", "venice_nb", "speak", "--batch", str(batch)]
        argv += ["--out-dir", str(out_dir), "--concurrency", "2"]

        async def run() -> asyncio.subprocess.Process:
            return await asyncio.create_subprocess_exec(
                *argv, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
            )

        proc = await run()
        await asyncio.wait_for(stub.wait_served(20), timeout=120)
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), timeout=60)
        assert proc.returncode == 130, err.decode()
        assert "interrupted; the files written are complete" in err.decode()
        written = audio_files(out_dir)
        assert 20 <= len(written) < len(texts) and leftovers(out_dir) == []
        assert sum(stub.served.values()) == len(written)  # every answer received was written

        proc = await run()
        stdout, err = await asyncio.wait_for(proc.communicate(), timeout=120)
        assert proc.returncode == 0, err.decode()
        assert f"{len(written)} skipped" in stdout.decode()
    assert len(audio_files(out_dir)) == len(texts)
    assert all(stub.attempts[t] == 1 for t in texts)


# -- the offline engine ---------------------------------------------------------------------------
@pytest.mark.local
@pytest.mark.slow
def test_speak_many_runs_on_the_offline_engine_with_no_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("piper")
    import venice_nb
    from venice_nb.core.audioinfo import probe

    monkeypatch.delenv("VENICE_API_KEY", raising=False)
    monkeypatch.delenv("VENICE_BASE_URL", raising=False)
    monkeypatch.setenv("VENICE_NB_DATA_DIR", str(tmp_path / "data"))
    session.reset_backend()
    try:
        texts = {"hello": "Hello from the batch.", "bye": "Goodbye for now."}
        report = venice_nb.speak_many(texts, out_dir=tmp_path / "out", format="wav", progress=False)
        assert report.ok and session.get_backend().is_local
        assert report.cost_usd is None  # offline speech costs nothing
        for name, text in texts.items():
            info = probe((tmp_path / "out" / f"{name}.wav").read_bytes(), "wav")
            assert info.duration is not None
            assert 0.4 < info.duration < 0.2 * len(text.split()) + 3.0
    finally:
        session.reset_backend()


async def test_runs_sharing_a_folder_never_replace_a_file_another_run_wrote(
    stub: RateLimitedStub, client: VeniceClient, tmp_path: Path
) -> None:
    """The cluster's parts write into one folder unlocked: a file that appears while its request
    is on the wire is kept, and the late answer is reported skipped, not written over it."""
    stub.latency = 0.3
    plan = plan_batch({"a": "First.", "b": "Second."}, out_dir=tmp_path)
    running = asyncio.create_task(run_batch(client, plan, shared_folder=True))
    await stub.wait_sent("First.")  # on the wire, answered in 0.3 s
    (tmp_path / "a.mp3").write_bytes(b"written by the other worker")
    result = await running
    assert (tmp_path / "a.mp3").read_bytes() == b"written by the other worker"
    assert (tmp_path / "b.mp3").read_bytes() == stub_audio("Second.", "af_heart", "mp3")
    a, b = result.items
    assert (a.status, a.reason) == ("skipped", "written by another worker")
    assert b.status == "done"
    assert leftovers(tmp_path) == []
    assert not (tmp_path / LOCK_NAME).exists()  # and the folder was not locked
