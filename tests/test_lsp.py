"""`charwriter lsp` end to end over stdio, driven by a client the project did not write (pytest-lsp, on pygls'
client), with a tiny model: the session's answers arrive as inline and plain completions, edits go in
incrementally, stale and cancelled requests stop, settings apply and refuse in one line, and hostile clients get
LSP errors (never a traceback on stdout, never a hang)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient, client_capabilities, make_test_lsp_client

from charwriter.session import WritingSession
from charwriter.settings import Settings
from conftest import make_text

URI = "file:///tmp/draft.md"
OPTIONS = {"adapt": False, "grey_floor": 0.0}  # no background training process; a tiny model is sure of nothing


def server_command(model) -> list[str]:
    return [sys.executable, "-m", "charwriter", "lsp", "--model", str(model), "--precision", "fp32", "--threads", "1"]


async def start(model, options=OPTIONS) -> LanguageClient:
    client = make_test_lsp_client()
    await client.start_io(*server_command(model))
    capabilities = client_capabilities("neovim")
    capabilities.text_document.inline_completion = lsp.InlineCompletionClientCapabilities()
    client.initialized_with = await client.initialize_session(
        lsp.InitializeParams(capabilities=capabilities, initialization_options=options))
    return client


async def said(client: LanguageClient, words: str, seconds: float = 60.0) -> str:
    """The first `window/showMessage` line holding `words`, waiting for it if it has not come yet."""
    for _ in range(int(seconds / 0.05)):
        lines = [m.message for m in client.messages if words in m.message]
        if lines:
            return lines[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no message with {words!r}; got {[m.message for m in client.messages]}")


@pytest.fixture
async def client(tiny_model_path):
    client = await start(tiny_model_path)
    yield client
    await client.shutdown_session()


def open_document(client: LanguageClient, text: str, uri: str = URI) -> None:
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(
        lsp.TextDocumentItem(uri=uri, language_id="markdown", version=1, text=text)))


def type_at(client: LanguageClient, line: int, column: int, text: str, version: int, uri: str = URI) -> None:
    at = lsp.Position(line, column)
    client.text_document_did_change(lsp.DidChangeTextDocumentParams(
        lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
        [lsp.TextDocumentContentChangePartial(range=lsp.Range(at, at), text=text)]))


async def inline(client: LanguageClient, line: int, column: int, uri: str = URI) -> lsp.InlineCompletionList:
    return await client.text_document_inline_completion_async(lsp.InlineCompletionParams(
        context=lsp.InlineCompletionContext(trigger_kind=lsp.InlineCompletionTriggerKind.Automatic),
        text_document=lsp.TextDocumentIdentifier(uri=uri), position=lsp.Position(line, column)))


async def complete(client: LanguageClient, line: int, column: int, uri: str = URI) -> lsp.CompletionList:
    return await client.text_document_completion_async(lsp.CompletionParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri), position=lsp.Position(line, column)))


async def test_typing_over_stdio_gets_the_sessions_grey_text_and_alternatives(client, tiny_model_path):
    """The server's answers are a session's: the same keystrokes into a session in this process give the same."""
    text = "# Notes\n\n" + make_text(1_200, seed=3).replace("\n", " ") + "\n"
    reference = WritingSession(Settings(model=str(tiny_model_path), precision="fp32", adapt=False, grey_floor=0.0),
                               threads=1)
    reference.load_model()
    reference.set_text(text)
    open_document(client, text)
    line, column = 2, len(text.splitlines()[2])
    for i, ch in enumerate("She walked along the wat"):
        type_at(client, line, column + i, ch, i + 2)
        offset = len(text) - 1 + i
        reference.apply_change(offset, offset, ch)
        got = await inline(client, line, column + i + 1)
        want = reference.suggest(offset + 1)
        assert [item.insert_text for item in got.items] == [want.typed + c.text for c in want.continuations]
        start = column + i + 1 - len(want.typed)
        assert all(item.range.start == lsp.Position(line, start) for item in got.items)
    assert want.typed == "wat" and got.items
    completions = await complete(client, line, column + len("She walked along the wat"))
    assert completions.is_incomplete and completions.items
    assert all(item.label.startswith("wat") and "nats/char" in item.detail for item in completions.items)
    assert [item.sort_text for item in completions.items] == sorted(item.sort_text for item in completions.items)


async def test_the_capabilities_say_incremental_sync_inline_and_plain_completion(client):
    capabilities = client.initialized_with.capabilities
    sync = capabilities.text_document_sync
    assert sync.change == lsp.TextDocumentSyncKind.Incremental and sync.open_close
    assert capabilities.inline_completion_provider and capabilities.completion_provider


async def test_a_cancelled_request_and_one_made_stale_by_a_change_stop(client):
    """While the model loads on the worker (torch's import: seconds), requests queue: the cancelled one is answered
    RequestCancelled, the one a change overtook ContentModified, and the next one with suggestions."""
    open_document(client, "The quiet house stood by the river and")
    params = lsp.InlineCompletionParams(
        context=lsp.InlineCompletionContext(trigger_kind=lsp.InlineCompletionTriggerKind.Invoked),
        text_document=lsp.TextDocumentIdentifier(uri=URI), position=lsp.Position(0, 38))
    send = client.protocol.send_request  # sent at once, in this order (the client's async one waits for the loop)
    cancelled = asyncio.wrap_future(send(lsp.TEXT_DOCUMENT_INLINE_COMPLETION, params, msg_id="cancel-me"))
    client.cancel_request(lsp.CancelParams(id="cancel-me"))
    overtaken = asyncio.wrap_future(send(lsp.TEXT_DOCUMENT_INLINE_COMPLETION, params, msg_id="overtaken"))
    type_at(client, 0, 38, " ", 2)
    with pytest.raises(JsonRpcException) as error:
        await cancelled
    assert error.value.code == lsp.LSPErrorCodes.RequestCancelled
    with pytest.raises(JsonRpcException) as error:
        await overtaken
    assert error.value.code == lsp.LSPErrorCodes.ContentModified
    assert (await inline(client, 0, 39)).items


async def test_settings_apply_and_a_bad_one_is_said_in_one_line_while_serving_goes_on(tiny_model_path, tmp_path):
    client = await start(tiny_model_path, {**OPTIONS, "suggestions": 0, "colour": "red"})
    try:
        assert "from 1 to 9" in await said(client, "'suggestions'")
        assert "unknown setting" in await said(client, "'colour'")
        open_document(client, "She walked along the water to the old m")
        assert len((await inline(client, 0, 40)).items) > 1
        assert all("\n" not in m.message for m in client.messages)

        client.workspace_did_change_configuration(lsp.DidChangeConfigurationParams({"charwriter": {"suggestions": 1}}))
        for _ in range(100):  # the change is applied on the worker, in order with the requests
            if len((await inline(client, 0, 40)).items) == 1:
                break
        assert len((await inline(client, 0, 40)).items) == 1

        missing = tmp_path / "missing.safetensors"
        client.workspace_did_change_configuration(lsp.DidChangeConfigurationParams({"model": str(missing)}))
        assert "missing.safetensors" in await said(client, "model not found")
        assert (await inline(client, 0, 40)).items  # still writing with the tiny model
    finally:
        await client.shutdown_session()


async def test_a_model_that_cannot_load_is_said_once_and_requests_get_empty_answers(tmp_path):
    client = await start(tmp_path / "nothing.safetensors")
    try:
        await said(client, "model not found")
        open_document(client, "Some text")
        assert not (await inline(client, 0, 9)).items
        assert not (await complete(client, 0, 9)).items
        assert sum("model not found" in m.message for m in client.messages) == 1  # not again for the document
    finally:
        await client.shutdown_session()


async def test_hostile_messages_get_lsp_errors_and_the_server_goes_on(client):
    open_document(client, "Line one\nline two ends here")
    with pytest.raises(JsonRpcException) as error:  # an unknown method
        await client.protocol.send_request_async("charwriter/unknown", {})
    assert error.value.code == lsp.ErrorCodes.MethodNotFound
    with pytest.raises(JsonRpcException) as error:  # a line past the end
        await inline(client, 7, 0)
    assert error.value.code == lsp.ErrorCodes.InvalidParams and "past the end" in error.value.message
    past, end = await inline(client, 1, 500), await inline(client, 1, len("line two ends here"))
    assert past.items == end.items  # a column past the line's end is its end (as LSP says)

    type_at(client, 0, 0, "x", 2, uri="file:///never/opened.md")  # a change to a document not open: ignored
    with pytest.raises(JsonRpcException) as error:
        await inline(client, 0, 1, uri="file:///never/opened.md")
    assert "not open" in error.value.message
    client.text_document_did_close(lsp.DidCloseTextDocumentParams(lsp.TextDocumentIdentifier(uri=URI)))
    with pytest.raises(JsonRpcException):
        await inline(client, 0, 1)

    client._server.stdin.write(b"Content-Length: 9\r\n\r\n{not json")  # malformed: said in one line, then on
    await said(client, "could not be read")
    open_document(client, "It was a bright cold day in April, and the")
    assert (await inline(client, 0, 42)).items


async def test_a_20_mb_document_opens_and_answers_from_its_end(client):
    text = make_text(200_000, seed=5) * 100  # 20 MB
    open_document(client, text)
    lines = text.count("\n")
    column = len(text) - text.rfind("\n") - 1
    assert (await inline(client, lines, column)).items
    type_at(client, lines, column, " the", 2)
    assert (await inline(client, lines, column + 4)).items


def frames(raw: bytes) -> list[dict]:
    """Split stdout into LSP messages; fails on anything else (a traceback, a stray print)."""
    out = []
    while raw:
        header, _, rest = raw.partition(b"\r\n\r\n")
        length = int(header.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        out.append(json.loads(rest[:length]))
        raw = rest[length:]
    return out


def frame(message: dict) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def test_bad_parameters_are_refused_and_a_client_that_goes_away_mid_request_ends_the_server(tiny_model_path):
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}, "initializationOptions":
                                                                          OPTIONS}},
        {"jsonrpc": "2.0", "method": "initialized", "params": {}},
        {"jsonrpc": "2.0", "id": 3, "method": "textDocument/inlineCompletion", "params": {"textDocument": 5}},
        {"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
            "uri": URI, "languageId": "markdown", "version": 1, "text": make_text(3_000)}}},
        {"jsonrpc": "2.0", "id": 2, "method": "textDocument/inlineCompletion", "params": {
            "textDocument": {"uri": URI}, "position": {"line": 0, "character": 5}, "context": {"triggerKind": 1}}},
    ]
    process = subprocess.run(server_command(tiny_model_path), input=b"".join(map(frame, messages)),
                             capture_output=True, timeout=120)
    assert process.returncode == 0
    answers = frames(process.stdout)
    assert answers[0]["id"] == 1 and "capabilities" in answers[0]["result"]
    refused = [a for a in answers if a.get("id") == 3]  # parameters that are not an inline completion's
    assert refused and refused[0]["error"]["code"] == lsp.ErrorCodes.InvalidParams
    assert b"Traceback" not in process.stderr and b"Traceback" not in process.stdout


def test_headless_neovim_types_in_a_markdown_file_and_receives_word_completions(tiny_model_path, tmp_path):
    """Neovim's own LSP client (Debian's `neovim`: `apt-get install neovim`) against `charwriter lsp`."""
    nvim = shutil.which("nvim")
    if nvim is None:
        pytest.skip("nvim is not installed (Debian: apt-get install neovim): the Neovim client was not tried")
    draft, out = tmp_path / "draft.md", tmp_path / "items.txt"
    draft.write_text("# Chapter one\n\n" + make_text(1_000, seed=6).replace("\n", " ") + "\n", encoding="utf-8")
    env = os.environ | {"CHARWRITER_LSP_CMD": json.dumps(server_command(tiny_model_path)), "CHARWRITER_OUT": str(out)}
    script = Path(__file__).parent / "nvim" / "complete.lua"
    subprocess.run([nvim, "--headless", "--clean", str(draft), "-c", f"luafile {script}"], env=env, cwd=tmp_path,
                   capture_output=True, timeout=180)
    items = out.read_text(encoding="utf-8").splitlines()
    assert items and not items[0].startswith("error"), items
    assert all(item.startswith("wat") and "nats/char" in item for item in items), items


def test_line_starts_follow_edits_and_columns_count_the_clients_units():
    """`Lines` kept in step edit by edit equals one built from the text; UTF-16 columns count an emoji as two."""
    import random

    from charwriter.lsp import Lines

    rng = random.Random(0)
    text = "first line\nsecond 😀 line\r\n\nlast"
    lines = Lines(text)
    for _ in range(300):
        start = rng.randint(0, len(text))
        end = rng.randint(start, min(len(text), start + 5))
        new = rng.choice(["", "x", "\n", "a\nb", "😀", "\r\n"])
        text = text[:start] + new + text[end:]
        lines.edit(start, end, new)
        assert lines.starts.tolist() == Lines(text).starts.tolist()
    lines = Lines("ab😀cd\nnext")
    utf16, utf32 = lsp.PositionEncodingKind.Utf16, lsp.PositionEncodingKind.Utf32
    assert lines.offset("ab😀cd\nnext", lsp.Position(0, 4), utf16) == 3  # after the emoji: 2 + 2 units
    assert lines.offset("ab😀cd\nnext", lsp.Position(0, 3), utf32) == 3
    assert lines.offset("ab😀cd\nnext", lsp.Position(1, 99), utf16) == len("ab😀cd\nnext")
    assert lines.offset("ab😀cd\nnext", lsp.Position(2, 0), utf16) is None


def test_an_unsure_grey_text_is_offered_inline_only_when_the_writer_asks():
    from charwriter.lsp import inline_items
    from charwriter.session import Continuation, Suggestions

    at = lsp.Position(0, 7)
    sure = Suggestions([Continuation("se ", -0.2), Continuation("r ", -0.9)], "hou", 1.0)
    unsure = Suggestions(sure.continuations, "hou", 1.0, inline=False)
    assert [item.insert_text for item in inline_items(sure, at, "utf-16")] == ["house ", "hour "]
    assert sure.grey == "se " and unsure.grey == ""
    assert inline_items(unsure, at, "utf-16") == []  # while typing: nothing drawn
    assert [item.insert_text for item in inline_items(unsure, at, "utf-16", asked=True)] == ["house ", "hour "]
