"""`charwriter lsp`: charwriter's suggestions in the writer's own editor, over the Language Server Protocol (stdio).

One `WritingSession` (charwriter.session) per open document, kept in step with every incremental `didChange`.
`textDocument/inlineCompletion` answers with the grey text first and the pane's alternatives after it;
`textDocument/completion` with the word completions, their confidence as the detail, for editors without inline
completion. The engine's work runs on one worker thread, in the order asked; a request stops at the engine's next
step when the client cancels it or a newer change makes it stale (answered with ContentModified). Settings come as
the settings file's keys, in `initializationOptions` and `workspace/didChangeConfiguration` (either bare or under
"charwriter"); a wrong one is said in one `window/showMessage` line and the rest still apply.

Stdout carries nothing but the protocol: file descriptor 1 is pointed at stderr before anything else runs, and
logs are one line each on stderr.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import stat
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from lsprotocol import types as lsp
from pygls.io_ import StdoutWriter, run_async
from pygls.exceptions import (FeatureRequestError, JsonRpcContentModified, JsonRpcException, JsonRpcInternalError,
                              JsonRpcInvalidParams)
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from charwriter import __version__
from charwriter.errors import UserError
from charwriter.lm.rules import WORD_START
from charwriter.session import Models, Suggestions, WritingSession, confidence_bar
from charwriter.settings import Settings

SECTION = "charwriter"  # the settings' section in a client's configuration
ASKS = (lsp.TEXT_DOCUMENT_INLINE_COMPLETION, lsp.TEXT_DOCUMENT_COMPLETION)  # the requests the engine answers
NEWLINE = re.compile("\n")

log = logging.getLogger("charwriter.lsp")


def _units(text: str, encoding: str) -> int:
    """Length of `text` in the client's position units (LSP counts UTF-16 code units unless agreed otherwise)."""
    if encoding == lsp.PositionEncodingKind.Utf32 or text.isascii():
        return len(text)
    if encoding == lsp.PositionEncodingKind.Utf8:
        return len(text.encode("utf-8"))
    return len(text) + sum(ord(ch) > 0xFFFF for ch in text)


class Lines:
    """Where each line of a document starts (character offsets), kept in step with its edits, so that a position
    (line, column in the client's units) becomes an offset without splitting the text on every keystroke.
    A line ends at "\\n" (so also at "\\r\\n"; a lone "\\r", which no editor writes today, is not a line break)."""

    def __init__(self, text: str) -> None:
        self.starts = self._breaks(text, 0)

    @staticmethod
    def _breaks(text: str, at: int, first: bool = True) -> np.ndarray:
        found = np.fromiter((m.end() for m in NEWLINE.finditer(text)), np.int64)
        return np.concatenate(([0], found)) if first else found + at

    def edit(self, start: int, end: int, text: str) -> None:
        """Characters start:end were replaced by `text`."""
        keep = np.searchsorted(self.starts, start, "right")  # lines that start at or before the edit stay
        after = np.searchsorted(self.starts, end, "right")  # lines whose break was removed go
        shift = len(text) - (end - start)
        self.starts = np.concatenate((self.starts[:keep], self._breaks(text, start, first=False),
                                      self.starts[after:] + shift))

    def offset(self, text: str, position: lsp.Position, encoding: str) -> int | None:
        """The character offset of `position`; a column past the line's end is its end (as LSP says); None for a
        line past the document's end."""
        line = position.line
        if line < 0 or line >= len(self.starts) or position.character < 0:
            return None
        start = int(self.starts[line])
        end = int(self.starts[line + 1]) - 1 if line + 1 < len(self.starts) else len(text)
        content = text[start:end].removesuffix("\r")
        if encoding == lsp.PositionEncodingKind.Utf32 or content.isascii():
            return start + min(position.character, len(content))
        units = 0
        for i, ch in enumerate(content):
            if units >= position.character:
                return start + i
            units += _units(ch, encoding)
        return start + len(content)


@dataclass
class Document:
    session: WritingSession
    lines: Lines


class _Refused:
    """What a request that could not be read becomes once its error has been answered: pygls drops it."""

    jsonrpc = "refused"

    def __repr__(self) -> str:
        return "(a request already answered with an error: its parameters could not be read)"


class CharwriterProtocol(LanguageServerProtocol):
    """pygls' protocol with the documents held by the sessions (pygls' own workspace copy rebuilds a document's
    whole text on every change: a 20 MB document would cost a keystroke a second), and a request whose parameters
    cannot be read answered with an error instead of never."""

    def _dispatch(self, method: str, params):
        if (handler := self.fm.features.get(method)) is not None:
            yield handler, (params,), None

    @lsp_method(lsp.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params):
        return (yield from self._dispatch(lsp.TEXT_DOCUMENT_DID_OPEN, params))

    @lsp_method(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params):
        return (yield from self._dispatch(lsp.TEXT_DOCUMENT_DID_CHANGE, params))

    @lsp_method(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params):
        return (yield from self._dispatch(lsp.TEXT_DOCUMENT_DID_CLOSE, params))

    def _handle_request(self, msg_id, method_name, params):
        if method_name in ASKS:  # the document as it is now, before the messages after this one change it
            self._server.arrived(msg_id, params.text_document.uri)
        super()._handle_request(msg_id, method_name, params)

    def _handle_cancel_notification(self, msg_id):
        self._server.versions.pop(msg_id, None)
        super()._handle_cancel_notification(msg_id)

    def structure_message(self, data):
        try:
            return super().structure_message(data)
        except JsonRpcException as error:
            if "id" in data and "method" in data:
                self._send_response(data["id"], error=error.to_response_error())
                return _Refused()
            raise


class CharwriterServer(LanguageServer):
    def __init__(self, settings: Settings, threads: int | None = None) -> None:
        super().__init__("charwriter", __version__, protocol_cls=CharwriterProtocol,
                         text_document_sync_kind=lsp.TextDocumentSyncKind.Incremental)
        self.settings = settings
        self.threads = threads
        self.models = Models()
        self.documents: dict[str, Document] = {}
        self.worker = ThreadPoolExecutor(1, thread_name_prefix="charwriter-engine")
        """The engine's work, one job at a time across documents: two would only share the same cores."""
        self.encoding = lsp.PositionEncodingKind.Utf16
        self._loop: asyncio.AbstractEventLoop | None = None  # the protocol's: other threads send through it
        self._said: set[str] = set()
        self._said_lock = threading.Lock()
        self.versions: dict = {}
        """Request id -> its document's version when the request arrived (its handler starts later, when messages
        that came after it may already have changed the document)."""

    def arrived(self, msg_id, uri: str) -> None:
        document = self.documents.get(uri)
        if document is not None:
            self.versions[msg_id] = document.session.version

    # --- telling the writer -----------------------------------------------------------------------------------------

    def say(self, level: str, line: str, once: bool = False) -> None:
        """One line in the editor (`window/showMessage`), from any thread; `once`: not again until settings change."""
        with self._said_lock:
            if once and line in self._said:
                return
            self._said.add(line)
        kind = {"info": lsp.MessageType.Info, "warning": lsp.MessageType.Warning}.get(level, lsp.MessageType.Error)
        params = lsp.ShowMessageParams(type=kind, message=f"charwriter: {line}")
        if self._loop is not None and threading.current_thread() is not threading.main_thread():
            self._loop.call_soon_threadsafe(self.window_show_message, params)  # one writer at a time on stdout
        else:
            self.window_show_message(params)

    def report_server_error(self, error: Exception, source) -> None:
        if source is FeatureRequestError:
            return  # the request's answer carries the error
        what = "a message from the editor could not be read" if source is JsonRpcException else "a notification failed"
        self.say("error", f"{what} ({type(error).__name__}: {error}); the server goes on".replace("\n", " ")[:300])

    def start_io(self, stdin, stdout) -> None:
        """pygls' stdio loop, reading stdin on the event loop itself: pygls reads each header line and body in a
        thread (three hand-offs a message), which cost a keystroke several milliseconds on a busy CPU. A stdin that
        is not a pipe (a file) goes pygls' way."""
        if not stat.S_ISFIFO(os.fstat(stdin.fileno()).st_mode) and not stat.S_ISSOCK(os.fstat(stdin.fileno()).st_mode):
            return super().start_io(stdin, stdout)
        self._stop_event = threading.Event()
        self.protocol.set_writer(StdoutWriter(stdout))

        async def serve() -> None:
            reader = asyncio.StreamReader(limit=1 << 20)
            await asyncio.get_running_loop().connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), stdin)
            await run_async(stop_event=self._stop_event, reader=reader, protocol=self.protocol, logger=log,
                            error_handler=self.report_server_error)

        try:
            asyncio.run(serve())
        except (asyncio.IncompleteReadError, BrokenPipeError, ConnectionError):
            log.warning("the editor went away")
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            self.shutdown()

    def close_all(self) -> None:
        """Shutdown, exit or a client gone: every session stops its work (an adaptation's process included)."""
        for document in list(self.documents.values()):
            document.session.close()
        self.documents.clear()
        self.worker.shutdown(wait=False, cancel_futures=True)

    # --- settings and the model ---------------------------------------------------------------------------------------

    def apply_settings(self, data) -> None:
        """Take a client's settings (bare, or under "charwriter"); a wrong one is said, the others apply."""
        if isinstance(data, dict) and isinstance(data.get(SECTION), dict):
            data = data[SECTION]
        if not data:
            return
        if not isinstance(data, dict):
            self.say("error", f"settings must be an object of the settings file's keys, not {data!r}")
            return
        self.settings, problems = self.settings.updated(data)
        with self._said_lock:
            self._said.clear()
        for problem in problems:
            self.say("error", problem)
        for document in list(self.documents.values()):
            self.worker.submit(self._configure, document.session, self.settings)

    def _configure(self, session: WritingSession, settings: Settings) -> None:
        self._guarded(lambda: session.configure(settings), "suggestions go on with what was loaded")

    def _load(self, session: WritingSession) -> None:
        self._guarded(session.load_model, "no suggestions until a model loads")

    def _guarded(self, call, meanwhile: str) -> None:
        """Run a model load or a settings change on the worker; a failure is said once, in one line."""
        try:
            call()
        except UserError as error:
            self.say("error", f"{error} ({meanwhile})", once=True)
        except Exception as error:  # noqa: BLE001 - a bug must not stop the server
            self.say("error", f"{type(error).__name__}: {error} ({meanwhile})", once=True)

    # --- documents ----------------------------------------------------------------------------------------------------

    def document(self, uri: str) -> Document:
        document = self.documents.get(uri)
        if document is None:
            raise JsonRpcInvalidParams(f"{uri} is not open: send textDocument/didOpen first")
        return document

    def apply_changes(self, uri: str, changes) -> None:
        """A `didChange`'s edits, in order, to the document's session and its line starts."""
        document = self.documents.get(uri)
        if document is None:  # a notification has no answer: say it on stderr only
            log.warning("a change to %s, which is not open, was ignored", uri)
            return
        session, lines = document.session, document.lines
        for change in changes:
            if isinstance(change, lsp.TextDocumentContentChangeWholeDocument):
                session.set_text(change.text)
                document.lines = lines = Lines(change.text)
                continue
            text = session.text
            start = lines.offset(text, change.range.start, self.encoding)
            end = lines.offset(text, change.range.end, self.encoding)
            start = len(text) if start is None else start  # past the end: at the end, as pygls' workspace does
            end = len(text) if end is None else max(start, end)
            session.apply_change(start, end, change.text)
            lines.edit(start, end, change.text)

    def offset(self, document: Document, position: lsp.Position) -> int:
        offset = document.lines.offset(document.session.text, position, self.encoding)
        if offset is None:
            raise JsonRpcInvalidParams(f"line {position.line} is past the end of the document "
                                       f"({len(document.lines.starts)} lines)")
        return offset

    async def suggestions(self, uri: str, position: lsp.Position) -> tuple[Suggestions | None, lsp.Position]:
        """The session's answer at `position`, computed on the worker, and the position (a column past its line's end
        is the end); the work stops when this request is cancelled (`$/cancelRequest`) or a newer change makes it
        stale."""
        version = self.versions.pop(self.protocol.msg_id, None)
        document = self.document(uri)
        session = document.session
        version = session.version if version is None else version
        if version != session.version:
            raise JsonRpcContentModified("the document changed after this request: ask again")
        offset = self.offset(document, position)
        line_start = int(document.lines.starts[position.line])
        position = lsp.Position(position.line, _units(session.text[line_start:offset], self.encoding))
        cancelled = threading.Event()
        try:
            answer = await asyncio.get_running_loop().run_in_executor(self.worker, session.suggest, offset,
                                                                         cancelled.is_set, version)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        except Exception as error:  # one line in the answer, not a traceback
            raise JsonRpcInternalError(f"suggestions failed ({type(error).__name__}: {error})") from None
        if answer is None and session.version != version:
            raise JsonRpcContentModified("the document changed: ask again")
        if answer is not None:
            self.worker.submit(session.refine)  # after a quick first answer: the whole window, before the next key
        return answer, position


def _word_range(position: lsp.Position, typed: str, encoding: str) -> lsp.Range:
    """From where the word begun before the cursor starts (on the cursor's line: a word never spans lines)."""
    return lsp.Range(lsp.Position(position.line, position.character - _units(typed, encoding)), position)


def inline_items(answer: Suggestions | None, position: lsp.Position, encoding: str,
                 asked: bool = False) -> list[lsp.InlineCompletionItem]:
    """The grey text, then the alternatives, each as the word begun plus its continuation over the word's range, so
    that a client which filters by what is typed keeps showing it. None while typing when the model is unsure of
    the grey text's first word (the editor's pane keeps them): only when the writer asks (`asked`)."""
    if answer is None or not (answer.inline or asked):
        return []
    replaced = _word_range(position, answer.typed, encoding)
    return [lsp.InlineCompletionItem(insert_text=answer.typed + c.text, range=replaced, filter_text=answer.typed)
            for c in answer.continuations]


def completion_items(answer: Suggestions | None, position: lsp.Position, encoding: str) -> list[lsp.CompletionItem]:
    """Each continuation's first word, finishing the word begun, with its confidence as the detail; the grey text
    whole too when it runs on past its first word (a phrase to take with one key)."""
    if answer is None:
        return []
    replaced = _word_range(position, answer.typed, encoding)
    items, seen = [], set()
    for i, continuation in enumerate(answer.continuations):
        word = answer.typed + WORD_START.match(continuation.text).group(0)
        whole = (answer.typed + continuation.text).rstrip()
        bar, said = confidence_bar(continuation.confidence)
        detail = f"{bar} {said} ({continuation.confidence:.2f} nats/char)"
        choices = [word] + ([whole] if i == 0 and whole != word else [])
        for label in choices:
            if not label.strip() or label == answer.typed or label in seen:
                continue
            seen.add(label)
            items.append(lsp.CompletionItem(
                label=label, kind=lsp.CompletionItemKind.Text, detail=detail, sort_text=f"{len(items):02d}",
                filter_text=label, text_edit=lsp.TextEdit(range=replaced, new_text=label)))
    return items


def build_server(settings: Settings, threads: int | None = None) -> CharwriterServer:
    server = CharwriterServer(settings, threads)

    @server.feature(lsp.INITIALIZE)
    def initialize(ls: CharwriterServer, params: lsp.InitializeParams) -> None:
        ls._loop = asyncio.get_running_loop()
        ls.encoding = ls.workspace.position_encoding or lsp.PositionEncodingKind.Utf16
        ls.apply_settings(params.initialization_options)
        # Torch's import and the precision's probe begin now, while the client opens its first document.
        ls.worker.submit(ls._load, WritingSession(ls.settings, models=ls.models, threads=ls.threads))

    @server.feature(lsp.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def configuration(ls: CharwriterServer, params: lsp.DidChangeConfigurationParams) -> None:
        ls.apply_settings(params.settings)

    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: CharwriterServer, params: lsp.DidOpenTextDocumentParams) -> None:
        item = params.text_document
        if (old := ls.documents.pop(item.uri, None)) is not None:
            old.session.close()
        session = WritingSession(ls.settings, models=ls.models, threads=ls.threads, report=ls.say)
        session.set_text(item.text)
        ls.documents[item.uri] = Document(session, Lines(item.text))
        ls.worker.submit(ls._load, session)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: CharwriterServer, params: lsp.DidChangeTextDocumentParams) -> None:
        ls.apply_changes(params.text_document.uri, params.content_changes)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: CharwriterServer, params: lsp.DidCloseTextDocumentParams) -> None:
        document = ls.documents.pop(params.text_document.uri, None)
        if document is not None:
            document.session.close()

    @server.feature(lsp.TEXT_DOCUMENT_INLINE_COMPLETION, lsp.InlineCompletionOptions())
    async def inline_completion(ls: CharwriterServer, params: lsp.InlineCompletionParams):
        answer, position = await ls.suggestions(params.text_document.uri, params.position)
        asked = params.context.trigger_kind == lsp.InlineCompletionTriggerKind.Invoked
        return lsp.InlineCompletionList(items=inline_items(answer, position, ls.encoding, asked))

    @server.feature(lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(trigger_characters=[" "]))
    async def completion(ls: CharwriterServer, params: lsp.CompletionParams):
        answer, position = await ls.suggestions(params.text_document.uri, params.position)
        # incomplete: the words depend on every character typed, so the editor asks again as the writer types
        return lsp.CompletionList(is_incomplete=True, items=completion_items(answer, position, ls.encoding))

    @server.feature(lsp.SHUTDOWN)
    def shutdown(ls: CharwriterServer, params) -> None:
        ls.close_all()

    return server


class _OneLine(logging.Formatter):
    """A log record in one line on stderr: an exception's type and message, never its traceback."""

    def format(self, record: logging.LogRecord) -> str:
        first = (record.getMessage().strip().splitlines() or [""])[0]  # pygls puts tracebacks in some messages
        line = f"charwriter lsp: {record.levelname.lower()}: {first}"
        if record.exc_info and record.exc_info[1] is not None:
            line += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
        return line.replace("\n", " ")[:500]


def serve(settings: Settings, threads: int | None = None) -> int:
    """Speak LSP on stdin/stdout until the client says exit or goes away."""
    protocol_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # whatever prints (torch, a stray print) lands on stderr
    sys.stdout = sys.stderr
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine())
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
    server = build_server(settings, threads)
    try:
        server.start_io(sys.stdin.buffer, protocol_out)
    finally:
        server.close_all()
    return 0
