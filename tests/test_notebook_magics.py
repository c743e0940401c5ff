"""The magics and helpers through a real IPython InteractiveShell, against the offline engine."""

from __future__ import annotations

import asyncio
import collections
import re
import threading
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("piper")
pytest.importorskip("faster_whisper")

from aiohttp import ClientSession, web
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

import venice_nb
from venice_nb import session
from venice_nb.core.types import AudioResponse
from venice_nb.notebook import runner
from venice_nb.notebook.speech import Speech
from venice_nb.notebook.transcript import Transcript

pytestmark = pytest.mark.local

SENTENCE = "It is a fine day to test transcripts, and every word should carry its time."


@pytest.fixture
def shell(offline_shell: InteractiveShell) -> InteractiveShell:
    """A real shell with the extension loaded, on the session's embedded offline engine."""
    return offline_shell


def run(sh: InteractiveShell, cell: str) -> tuple[Any, str, str]:
    """Run ``cell``; return its result, stdout and stderr."""
    with capture_output() as out:
        result = sh.run_cell(cell)
    assert result.error_in_exec is None, result.error_in_exec
    return result.result, out.stdout, out.stderr


def bundle(sh: InteractiveShell, obj: Any) -> dict[str, Any]:
    data, _ = sh.display_formatter.format(obj)
    return data


def test_speak_cell_shows_a_compact_player_with_the_offline_badge(shell: InteractiveShell) -> None:
    speech, _, err = run(
        shell, "%%venice_speak --voice af_sky --var s\nHello from the offline engine."
    )
    assert err == ""
    assert isinstance(speech, Speech) and shell.user_ns["s"] is speech
    assert speech.offline and not speech.cached and speech.cost_usd is None
    assert (speech.model, speech.voice) == ("tts-kokoro", "af_sky")
    assert speech.duration is not None and speech.duration > 0.8
    data = bundle(shell, speech)
    assert re.search(
        r'<audio controls preload="metadata" src="data:audio/mpeg;base64,[A-Za-z0-9+/=]+"',
        data["text/html"],
    )
    assert "offline engine" in data["text/plain"] and "tts-kokoro / af_sky" in data["text/plain"]
    per_minute = speech.embedded.notebook_bytes / (speech.duration / 60)
    assert per_minute <= 500_000


def test_placeholders_come_from_the_notebook(shell: InteractiveShell) -> None:
    shell.user_ns["name"] = "Ada"
    speech, _, _ = run(shell, "%%venice_speak\nHello {name}, braces {{stay}}.")
    assert speech.text == "Hello Ada, braces {stay}."


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("%%venice_speak\n\n", "the cell is empty"),
        ("%%venice_speak --voice af_skyy\nHello", "Did you mean af_sky?"),
        ("%%venice_speak --model tts-nope\nHello", "Unknown tts model 'tts-nope'"),
        ("%%venice_speak\nHi {nobody}", "no variable 'nobody' is defined"),
        ("%venice_transcribe /no/such/file.mp3", "No audio file at '/no/such/file.mp3'"),
        ("%venice_voices --model tts-nope", "Unknown TTS model 'tts-nope'"),
        ("%%venice_speak --speed 9\nHello", "speed must be from 0.25 to 4.0"),
    ],
)
def test_user_errors_print_one_line_not_a_traceback(
    shell: InteractiveShell, cell: str, message: str
) -> None:
    result, out, err = run(shell, cell)
    assert result is None
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("venice_nb: ") and message in lines[0]
    assert "Traceback" not in out + err


def test_out_writes_the_file_and_its_extension_picks_the_format(
    shell: InteractiveShell, tmp_path: Path
) -> None:
    target = tmp_path / "hello.wav"
    speech, _, _ = run(shell, f"%venice_speak --out {target} Saving a file as well.")
    assert target.read_bytes()[:4] == b"RIFF" and speech.format == "wav"
    assert speech.embedded.mime == "audio/mpeg" and speech.embedded.transcoded


def test_short_output_models_use_stream_long_text_with_a_progress_bar(
    shell: InteractiveShell,
) -> None:
    text = " ".join(
        [
            "The first part of this text is long enough to need several requests.",
            "Qwen voices stop after about twenty five words, so the notebook splits it.",
            "Each part is spoken on its own and the audio is joined in order.",
            "A progress bar shows how many parts are done while the rest are still speaking.",
        ]
    )
    with capture_output() as out:
        result = shell.run_cell(f"%%venice_speak --model tts-qwen3-0-6b --voice Vivian\n{text}")
    speech = result.result
    assert isinstance(speech, Speech), out.stderr
    progress = [
        o.data["text/html"] for o in out.outputs if "<progress" in o.data.get("text/html", "")
    ]
    assert progress and re.search(r"\d/\d segments", progress[-1])
    assert speech.duration is not None and speech.duration > 8


def test_transcribe_a_speech_variable_gives_clickable_words(shell: InteractiveShell) -> None:
    run(shell, f"%%venice_speak --format wav --var s\n{SENTENCE}")
    from_attribute, _, _ = run(shell, "%venice_transcribe s.audio")
    transcript, _, err = run(shell, "%venice_transcribe s --var t")
    assert from_attribute == transcript  # the same audio, as bytes
    assert err == ""
    assert isinstance(transcript, Transcript) and shell.user_ns["t"] is transcript
    assert "fine day" in transcript.text.lower()
    assert len(transcript.words) >= 12
    assert transcript.find("fine day") is not None
    starts = [w.start for w in transcript.words]
    assert starts == sorted(starts) and starts[-1] > 1.0
    page = bundle(shell, transcript)["text/html"]
    markup = re.sub(r"<script.*?</script>", "", page, flags=re.S)  # the module builds markup too
    assert markup.count('class="vnb-word"') == len(transcript.words)
    assert "[00:00]" in page and "<audio controls" in page
    assert "offline engine" in page


def test_transcribe_formats_print_text_and_subtitles(
    shell: InteractiveShell, tmp_path: Path
) -> None:
    wav = tmp_path / "talk.wav"
    run(shell, f"%venice_speak --out {wav} {SENTENCE}")
    result, out, _ = run(shell, f"%venice_transcribe {wav} --format srt")
    assert result is None
    assert re.match(r"1\n00:00:00,\d{3} --> 00:00:0\d,\d{3}\n", out)
    _, text, _ = run(shell, f"%venice_transcribe {wav} --format text")
    assert "fine day" in text.lower()
    _, vtt, _ = run(shell, f"%venice_transcribe {wav} --format vtt --var t")
    assert vtt.startswith("WEBVTT") and isinstance(shell.user_ns["t"], Transcript)


def test_plain_python_helpers(shell: InteractiveShell) -> None:
    speech, _, _ = run(
        shell,
        "import venice_nb\ns = venice_nb.speak('The morning train leaves at nine.', format='wav')\ns",
    )
    assert isinstance(speech, Speech) and speech.format == "wav"
    transcript, _, _ = run(shell, "venice_nb.transcribe(s)")
    assert "train" in transcript.text.lower()
    again = venice_nb.speak("The morning train leaves at nine.", format="wav")
    assert again.cached and bytes(again) == bytes(speech)
    mp3 = venice_nb.speak("The morning train leaves at nine.")  # the model's default: mp3
    assert mp3.format == "mp3" and "train" in venice_nb.transcribe(mp3).text.lower()


def test_await_the_async_client_in_a_cell(shell: InteractiveShell) -> None:
    run(
        shell,
        "from venice_nb.session import new_client\n"
        "async with new_client() as client:\n"
        "    audio = await client.audio.create_speech(input='Awaited in a cell.', model='tts-kokoro', voice='af_heart')\n",
    )
    audio = shell.user_ns["audio"]
    assert isinstance(audio, AudioResponse) and audio.format == "mp3" and audio.duration > 0.5


def test_config_changes_the_default_voice(shell: InteractiveShell) -> None:
    run(shell, '%config VeniceMagics.voice = "am_adam"')
    speech, _, _ = run(shell, "%venice_speak Configured voice.")
    assert speech.voice == "am_adam"
    assert venice_nb.speak("Configured voice.").cached  # the helper uses the same setting


def test_voices_magic_shows_the_explorer(shell: InteractiveShell) -> None:
    explorer, _, _ = run(shell, "%venice_voices --region b --gender female")
    assert {(v["id"], v["language"], v["accent"]) for v in explorer.visible()} == {
        ("bf_alice", "English", "British"),
        ("bf_emma", "English", "British"),
        ("bf_lily", "English", "British"),
    }
    assert len(explorer.voices) >= 200
    assert "3 voices" in bundle(shell, explorer)["text/html"]


def test_cache_magic_reports_and_clears(shell: InteractiveShell) -> None:
    run(shell, "%venice_speak Cache me.")
    _, info, _ = run(shell, "%venice_cache")
    assert info.startswith("1 cached speech files")
    _, cleared, _ = run(shell, "%venice_cache clear")
    assert cleared.startswith("Removed 1 cached")
    speech, _, _ = run(shell, "%venice_speak Cache me.")
    assert not speech.cached


# -- no speech request twice: a counting proxy in front of an engine --------------------------
class CountingProxy:
    """A loopback proxy that forwards to the embedded engine and counts requests per path."""

    def __init__(self, upstream: str, token: str | None) -> None:
        self.upstream = upstream.rstrip("/")
        self.token = token
        self.counts: collections.Counter[str] = collections.Counter()
        self.seen_auth: list[str] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.base_url = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)

    async def _start(self) -> str:
        self.session = ClientSession()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/v1/{tail:.*}", self.forward)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{port}/api/v1"

    async def forward(self, request: web.Request) -> web.Response:
        self.counts[f"{request.method} /{request.match_info['tail']}"] += 1
        self.seen_auth.append(request.headers.get("Authorization", ""))
        headers = {
            k: v for k, v in request.headers.items() if k.lower() in ("content-type", "accept")
        }
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        url = f"{self.upstream}/{request.match_info['tail']}"
        async with self.session.request(
            request.method, url, params=request.query, data=await request.read(), headers=headers
        ) as upstream:
            body = await upstream.read()
            keep = {
                k: v
                for k, v in upstream.headers.items()
                if k.lower()
                not in ("content-length", "transfer-encoding", "content-encoding", "date", "server")
            }
            return web.Response(status=upstream.status, body=body, headers=keep)

    def close(self) -> None:
        async def stop() -> None:
            await self.session.close()
            await self.runner.cleanup()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def test_rerunning_sends_no_speech_request_twice_and_never_keys_on_the_api_key(
    shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    engine = session.get_backend()
    proxy = CountingProxy(engine.base_url, engine.api_key)
    secret = "sk-notebook-test-secret-123456"
    try:
        monkeypatch.setenv("VENICE_BASE_URL", proxy.base_url)
        monkeypatch.setenv("VENICE_API_KEY", secret)
        with monkeypatch.context() as m:
            m.setattr(session, "_backend", None)  # choose again from the environment
            backend = session.get_backend()
            assert backend.kind == "custom"
            cell = "%%venice_speak --voice bm_george\nTwice is once too many."
            first, _, _ = run(shell, cell)
            second, _, _ = run(shell, cell)
            assert proxy.counts["POST /audio/speech"] == 1
            assert not first.cached and second.cached and bytes(first) == bytes(second)
            assert first.offline  # told by the engine's x-venice-nb-engine header
            run(shell, "%%venice_speak --voice bm_george --speed 1.2\nTwice is once too many.")
            assert proxy.counts["POST /audio/speech"] == 2  # another parameter, another request
            assert all(a == f"Bearer {secret}" for a in proxy.seen_auth)
            for path in (tmp_path / "cache").rglob("*"):
                assert secret not in path.name
                if path.is_file():
                    assert secret.encode() not in path.read_bytes()
    finally:
        runner.shutdown()
        proxy.close()


@pytest.mark.slow
def test_text_over_4096_characters_is_spoken_in_parts_with_progress(
    shell: InteractiveShell,
) -> None:
    # A French voice: the offline engine renders it with espeak-ng, fast enough for 4 minutes.
    sentences = [
        f"Le paragraphe {i} raconte comment la rivière a monté au printemps et le marché a déménagé."
        for i in range(46)
    ]
    text = " ".join(sentences)
    assert len(text) > 4096
    with capture_output() as out:
        result = shell.run_cell(f"%%venice_speak --voice ff_siwis --var s\n{text}")
    speech = result.result
    assert isinstance(speech, Speech), out.stderr
    progress = [
        o.data["text/html"] for o in out.outputs if "<progress" in o.data.get("text/html", "")
    ]
    totals = {int(m) for p in progress for m in re.findall(r"\d+/(\d+) segments", p)}
    assert len(totals) == 1 and totals.pop() > 1
    assert speech.duration is not None and speech.duration > 120
    html_and_text = sum(len(v) for v in bundle(shell, speech).values())
    assert html_and_text / (speech.duration / 60) <= 500_000  # the whole output, per minute


def test_audio_longer_than_the_setting_is_not_embedded_but_played_from_beside_the_notebook(
    shell: InteractiveShell, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Over ``VeniceMagics.embed_max_minutes`` the notebook keeps the text and timestamps and the
    file's path relative to the notebook (the kernel's folder); a file elsewhere gets a note
    saying to put it beside the notebook. Under the limit the audio is embedded as before."""
    (tmp_path / "rec").mkdir()
    wav = tmp_path / "rec" / "talk.wav"
    run(shell, f"%venice_speak --out {wav} {SENTENCE}")
    run(shell, "import venice_nb\n%config VeniceMagics.embed_max_minutes = 0.02")  # 1.2 s
    t, _, _ = run(shell, f"venice_nb.transcribe({str(wav)!r})")
    assert t.audio is None and t.audio_file == "rec/talk.wav" and t.audio_note is None
    data = bundle(shell, t)
    assert "data:audio/" not in data["text/html"] and 'src="rec/talk.wav"' in data["text/html"]
    assert "fine day" in t.text.lower() and len(t.words) >= 8

    elsewhere = tmp_path_factory.mktemp("elsewhere") / "talk.wav"
    elsewhere.write_bytes(wav.read_bytes())
    far, _, _ = run(shell, f"venice_nb.transcribe({str(elsewhere)!r})")
    assert far.audio is None and far.audio_file is None
    assert "put talk.wav beside this notebook" in far.audio_note
    assert "embed_max_minutes" in far.audio_note

    run(shell, "%config VeniceMagics.embed_max_minutes = 10")
    near, _, _ = run(shell, f"venice_nb.transcribe({str(wav)!r})")
    assert near.audio is not None and near.audio_file is None
