"""The offline server against a hostile local web page and a slow network: foreign Host headers
(DNS rebinding) and foreign Origins are refused, bodies and form fields that arrive in several
TCP segments are read whole, and the token can come from the environment or a file (never only
the command line)."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from testkit.audio_fixtures import wav_bytes
from venice_nb.local import LocalConfig, LocalServer
from venice_nb.local.cli import _token, build_parser

pytestmark = [pytest.mark.local]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    config = LocalConfig(
        data_dir=tmp_path_factory.mktemp("hostile"), allow_origins=("https://lab.example",)
    )
    with LocalServer(config) as srv:
        yield srv


async def _exchange(
    base_url: str, head: str, body: bytes, cuts: tuple[int, ...] = ()
) -> tuple[int, dict[str, str], bytes]:
    """Send a raw HTTP/1.1 request, its body written in pieces cut at ``cuts``, 0.1 s apart."""
    url = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    writer.write(head.encode("latin-1") + b"\r\n")
    bounds = [0, *cuts, len(body)]
    for start, end in itertools.pairwise(bounds):
        writer.write(body[start:end])
        await writer.drain()
        if end < len(body):
            await asyncio.sleep(0.1)
    raw = await asyncio.wait_for(reader.read(), timeout=120)
    writer.close()
    header, _, content = raw.partition(b"\r\n\r\n")
    lines = header.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, content


def _head(method: str, path: str, host: str, extra: dict[str, str], length: int) -> str:
    lines = [f"{method} /api/v1{path} HTTP/1.1", f"Host: {host}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in extra.items()]
    lines.append(f"Content-Length: {length}")
    return "\r\n".join(lines) + "\r\n"


def _host(server: LocalServer) -> str:
    return str(urlsplit(server.base_url).netloc)


def test_a_dns_rebinding_host_is_refused(server: LocalServer) -> None:
    port = urlsplit(server.base_url).port
    status, _, body = asyncio.run(
        _exchange(server.base_url, _head("GET", "/models", f"evil.example:{port}", {}, 0), b"")
    )
    assert status == 403
    assert "evil.example" in json.loads(body)["error"]
    for host in (f"localhost:{port}", f"127.0.0.1:{port}"):
        status, _, _ = asyncio.run(
            _exchange(server.base_url, _head("GET", "/models", host, {}, 0), b"")
        )
        assert status == 200, host


def test_a_foreign_origin_cannot_post_or_read(server: LocalServer) -> None:
    body = json.dumps({"input": "hi", "model": "tts-kokoro", "voice": "af_heart"}).encode()
    head = _head(
        "POST",
        "/audio/speech",
        _host(server),
        {"Content-Type": "text/plain", "Origin": "http://evil.example"},
        len(body),
    )
    status, _, answer = asyncio.run(_exchange(server.base_url, head, body))
    assert status == 403 and "evil.example" in json.loads(answer)["error"]
    for origin in ("null", "http://127.0.0.1:1"):
        head = _head("GET", "/models", _host(server), {"Origin": origin}, 0)
        assert asyncio.run(_exchange(server.base_url, head, b""))[0] == 403, origin


def test_its_own_origin_and_allowed_origins_are_served(server: LocalServer) -> None:
    for origin in (f"http://{_host(server)}", "https://lab.example"):
        head = _head("GET", "/models", _host(server), {"Origin": origin}, 0)
        assert asyncio.run(_exchange(server.base_url, head, b""))[0] == 200, origin


def test_a_json_body_in_many_tcp_segments_is_read_whole(server: LocalServer) -> None:
    padded = json.dumps(
        {
            "input": "Hello there.",
            "model": "tts-kokoro",
            "voice": "af_heart",
            "response_format": "wav",
        },
        indent=800,
    ).encode()
    assert len(padded) > 3000
    head = _head(
        "POST", "/audio/speech", _host(server), {"Content-Type": "application/json"}, len(padded)
    )
    status, headers, audio = asyncio.run(
        _exchange(server.base_url, head, padded, cuts=(1448, 2896))
    )
    assert status == 200, audio[:300]
    assert headers["content-type"].startswith("audio/wav") and audio[:4] == b"RIFF"


def test_form_fields_in_many_tcp_segments_are_read_whole(server: LocalServer) -> None:
    boundary = "vnbboundary"
    parts = [
        ("model", None, b"nvidia/parakeet-tdt-0.6b-v3"),
        ("response_format", None, b"text"),
        ("file", "clip.wav", wav_bytes(1.0)),
    ]
    body = b""
    for name, filename, value in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
        if filename:
            body += b"Content-Type: audio/wav\r\n"
        body += b"\r\n" + value + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    head = _head(
        "POST",
        "/audio/transcriptions",
        _host(server),
        {"Content-Type": f"multipart/form-data; boundary={boundary}"},
        len(body),
    )
    # Split so that the response_format value straddles three writes ("te" | "x" | "t...").
    cut = body.index(b"\r\n\r\ntext") + 6
    status, headers, answer = asyncio.run(
        _exchange(server.base_url, head, body, cuts=(cut, cut + 1))
    )
    assert status == 200, answer[:300]
    assert headers["content-type"].startswith("text/plain")


def test_the_token_comes_from_the_environment_or_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parser = build_parser()
    monkeypatch.setenv("VENICE_NB_SERVER_TOKEN", "from-env")
    assert _token(parser.parse_args([]), parser) == "from-env"
    secret = tmp_path / "token"
    secret.write_text("from-file\n")
    assert _token(parser.parse_args(["--token-file", str(secret)]), parser) == "from-file"
    monkeypatch.delenv("VENICE_NB_SERVER_TOKEN")
    assert _token(parser.parse_args([]), parser) is None
    secret.write_text("")
    with pytest.raises(SystemExit):
        _token(parser.parse_args(["--token-file", str(secret)]), parser)


def test_decoding_stops_at_the_duration_allowed() -> None:
    from venice_nb.local import audio

    clip = wav_bytes(10.0)
    kept = audio.decode_mono(clip, max_seconds=3.0, truncate=True)
    assert kept.size == 3 * audio.ASR_RATE
    with pytest.raises(audio.AudioTooLongError):
        audio.decode_mono(clip, max_seconds=3.0)
    assert audio.decode_mono(clip).size == pytest.approx(10 * audio.ASR_RATE, abs=160)


def test_audio_longer_than_allowed_is_refused_with_413(tmp_path: Path) -> None:
    config = LocalConfig(data_dir=tmp_path, max_audio_seconds=5.0)
    boundary = "vnbboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\n'
            "nvidia/parakeet-tdt-0.6b-v3\r\n"
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="long.wav"\r\n'
            "Content-Type: audio/wav\r\n\r\n"
        ).encode()
        + wav_bytes(8.0)
        + f"\r\n--{boundary}--\r\n".encode()
    )
    with LocalServer(config) as srv:
        head = _head(
            "POST",
            "/audio/transcriptions",
            _host(srv),
            {"Content-Type": f"multipart/form-data; boundary={boundary}"},
            len(body),
        )
        status, _, answer = asyncio.run(_exchange(srv.base_url, head, body))
    assert status == 413, answer[:300]
    assert "minutes once decoded" in json.loads(answer)["error"]


def test_a_clone_that_cannot_be_stored_is_507_and_leaves_no_handle(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the data directory should be")
    boundary = "vnbboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\n'
            "tts-chatterbox-hd\r\n"
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="me.wav"\r\n'
            "Content-Type: audio/wav\r\n\r\n"
        ).encode()
        + wav_bytes(6.0)
        + f"\r\n--{boundary}--\r\n".encode()
    )
    with LocalServer(LocalConfig(data_dir=blocked)) as srv:
        head = _head(
            "POST",
            "/audio/voices",
            _host(srv),
            {"Content-Type": f"multipart/form-data; boundary={boundary}"},
            len(body),
        )
        status, _, answer = asyncio.run(_exchange(srv.base_url, head, body))
        kept = srv.service.clones._voices
    assert status == 507, answer[:300]
    error = json.loads(answer)
    assert error["code"] == "STORAGE_FAILED" and str(blocked) not in error["error"]
    assert kept == {}
