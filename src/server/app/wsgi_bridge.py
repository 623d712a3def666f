"""Tiny Server's WSGI bridge: runs one app, `module:callable`, for the server that started it.

Standard library only. The server (src/server/app/) parses HTTP and talks to this process over
two pipes, fd 3 (requests in) and fd 4 (responses out), in the framed protocol described at the
top of src/server/app/frames.ts; stdout and stderr stay the app's own, and the server logs them.

    python3 wsgi_bridge.py --app module:callable --app-dir DIR [--threads N]

Requests run on a thread pool. Bodies flow both ways under credit (WINDOW bytes per request
in flight), so a large upload or download never sits in memory whole.
"""

import argparse
import atexit
import collections
import importlib
import json
import logging
import os
import signal
import struct
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote_to_bytes

# Frame types, as in frames.ts.
REQUEST, BODY, END, ABORT, CREDIT, REQUEST_ALONE, PING = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07
START, RESPONSE_BODY, RESPONSE_END, ERROR, GRANT, LOG, READY, FAILED, RESPONSE, PONG = (
    0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a)
INCOMING = {REQUEST, BODY, END, ABORT, CREDIT, REQUEST_ALONE, PING}
RESPONSE_HEAD = struct.Struct('>I')
# A REQUEST head is a JSON array: these items, then each field's name and value (frames.ts).
(METHOD, PATH, QUERY, PROTOCOL, REMOTE_ADDRESS, REMOTE_PORT, SCRIPT_NAME, SERVER_NAME, SERVER_PORT,
 REQUEST_ITEMS) = range(10)
HEADER = struct.Struct('>IBI')
WINDOW = 256 * 1024
MAX_PAYLOAD = 1024 * 1024
BODY_CHUNK = 64 * 1024

# RFC 9110 section 7.6.1: fields about one connection, which only the server may send (PEP 3333,
# "Other HTTP Features": an app that sends them is an error).
HOP_BY_HOP = frozenset(('connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization',
                        'te', 'trailer', 'trailers', 'transfer-encoding', 'upgrade'))
TOKEN = frozenset('!#$%&\'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ')


class ClientGone(OSError):
    """The client went away or the server gave up on the request."""


class Channel:
    """Writes frames to the server; one lock keeps frames from different threads whole."""

    def __init__(self, fd):
        self.fd = fd
        self.lock = threading.Lock()

    def send(self, kind, rid, payload=b''):
        data = HEADER.pack(len(payload), kind, rid) + payload
        with self.lock:
            view = memoryview(data)
            while view:
                written = os.write(self.fd, view)
                view = view[written:]

    def send_json(self, kind, rid, value):
        self.send(kind, rid, json.dumps(value).encode('utf-8'))


class Exchange:
    """One request: its body arriving from the server, its response credit, its abort flag."""

    def __init__(self, rid, head, channel):
        self.rid = rid
        self.head = head
        self.channel = channel
        self.cond = threading.Condition()
        self.pending = bytearray()
        self.eof = False
        self.aborted = False
        self.consumed = 0
        self.credit = WINDOW
        self.status_headers = None
        self.headers_sent = False

    # Called by the reader thread.
    def feed(self, data):
        with self.cond:
            self.pending += data
            if len(self.pending) > WINDOW:
                fatal('The server sent more request body than the window allows')
            self.cond.notify_all()

    def finish_input(self):
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def abort(self):
        with self.cond:
            self.aborted = True
            self.cond.notify_all()

    def grant(self, count):
        with self.cond:
            self.credit += count
            self.cond.notify_all()

    # Called by the app's thread.
    def take(self, size, until_newline=False):
        """Up to `size` bytes (all when negative) of the body; b'' at its end."""
        out = bytearray()
        with self.cond:
            while size < 0 or len(out) < size:
                while not self.pending and not self.eof and not self.aborted:
                    self.cond.wait()
                if self.aborted:
                    raise ClientGone('The client went away while the app read the request body')
                if not self.pending:
                    break
                want = len(self.pending) if size < 0 else min(size - len(out), len(self.pending))
                if until_newline:
                    newline = self.pending.find(b'\n', 0, want)
                    if newline != -1:
                        want = newline + 1
                out += self.pending[:want]
                del self.pending[:want]
                self.acknowledge(want)
                if until_newline and out.endswith(b'\n'):
                    break
        return bytes(out)

    def acknowledge(self, count):
        """Grants the server credit for consumed bytes, a quarter window at a time."""
        self.consumed += count
        if self.consumed >= WINDOW // 4 and not self.eof:
            self.channel.send(GRANT, self.rid, struct.pack('>I', self.consumed))
            self.consumed = 0

    def send_body(self, data):
        view = memoryview(data)
        while view:
            with self.cond:
                while self.credit <= 0 and not self.aborted:
                    self.cond.wait()
                if self.aborted:
                    raise ClientGone('The client went away during the response')
                size = min(len(view), self.credit, BODY_CHUNK)
                self.credit -= size
            self.channel.send(RESPONSE_BODY, self.rid, bytes(view[:size]))
            view = view[size:]

    def send_start(self):
        status, headers = self.status_headers
        payload = start_json(status, headers)
        if len(payload) > MAX_PAYLOAD:
            # No frame may be larger: the app's error to answer, not a broken pipe for every request.
            raise ValueError('The response head is %d bytes of fields, more than the %d a response head may have here'
                             % (len(payload), MAX_PAYLOAD))
        self.headers_sent = True
        self.channel.send(START, self.rid, payload)


class Input:
    """wsgi.input: the request body as the server streams it, ending with b'' at its end."""

    def __init__(self, exchange):
        self.exchange = exchange

    def read(self, size=-1):
        return self.exchange.take(-1 if size is None else size)

    def readline(self, size=-1):
        return self.exchange.take(-1 if size is None else size, until_newline=True)

    def readlines(self, hint=-1):
        lines, total = [], 0
        for line in self:
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                break
        return lines

    def __iter__(self):
        while True:
            line = self.readline()
            if not line:
                return
            yield line


class Errors:
    """wsgi.errors: text for the server's log, tagged with the request."""

    def __init__(self, exchange):
        self.exchange = exchange

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError('wsgi.errors.write() takes str, not %s' % type(text).__name__)
        if text:
            # Cut to fit one frame: a larger one breaks the pipe, and the server stops the process.
            self.exchange.channel.send(LOG, self.exchange.rid, clipped_utf8(text))

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        pass


class FileWrapper:
    """wsgi.file_wrapper: iterates a file in large blocks and closes it with the response."""

    def __init__(self, filelike, blksize=8192):
        self.filelike = filelike
        self.blksize = max(blksize, BODY_CHUNK)
        if hasattr(filelike, 'close'):
            self.close = filelike.close

    def __iter__(self):
        while True:
            data = self.filelike.read(self.blksize)
            if not data:
                return
            yield data


def start_json(status, headers):
    """START's head (also a RESPONSE frame's): the JSON array [status, name, value, ...], in UTF-8."""
    items = [status]
    for name, value in headers:
        items.append(name)
        items.append(value)
    return json.dumps(items).encode('utf-8')


def build_environ(exchange, multithread):
    """The PEP 3333 environ of one request."""
    head = exchange.head
    environ = {
        'REQUEST_METHOD': head[METHOD],
        # PEP 3333, "Unicode Issues": decoded bytes carried in a str as latin-1. The server sends
        # the target's bytes as latin-1 text too, so a raw byte above 0x7F is one character that
        # must become that byte again (unquote_to_bytes would encode a str as UTF-8: two bytes).
        'SCRIPT_NAME': unquote_to_bytes(head[SCRIPT_NAME].encode('latin-1')).decode('latin-1'),
        'PATH_INFO': unquote_to_bytes(head[PATH].encode('latin-1')).decode('latin-1'),
        'QUERY_STRING': head[QUERY],
        'SERVER_NAME': head[SERVER_NAME],
        'SERVER_PORT': str(head[SERVER_PORT]),
        'SERVER_PROTOCOL': head[PROTOCOL],
        'REMOTE_ADDR': head[REMOTE_ADDRESS],
        'REMOTE_PORT': str(head[REMOTE_PORT]),
        'wsgi.version': (1, 0),
        'wsgi.url_scheme': 'http',
        'wsgi.input': Input(exchange),
        'wsgi.errors': Errors(exchange),
        'wsgi.multithread': multithread,
        'wsgi.multiprocess': False,
        'wsgi.run_once': False,
        # The body always ends with b'' (chunked bodies are decoded by the server): apps may read
        # to the end without a Content-Length.
        'wsgi.input_terminated': True,
        'wsgi.file_wrapper': FileWrapper,
    }
    for i in range(REQUEST_ITEMS, len(head) - 1, 2):
        name, value = head[i], head[i + 1]
        # A field named with `_` would collide with one named with `-` once both become HTTP_*
        # keys, so it could pose as a field a proxy checked; dropped, as nginx and Apache do.
        if '_' in name:
            continue
        if name == 'content-type':
            environ['CONTENT_TYPE'] = value
        elif name == 'content-length':
            environ['CONTENT_LENGTH'] = value
        else:
            key = 'HTTP_' + name.upper().replace('-', '_')
            # Repeated fields arrive joined already; join again if a name repeats anyway.
            environ[key] = environ[key] + ',' + value if key in environ else value
    return environ


def check_status(status):
    if not isinstance(status, str):
        raise TypeError('The status must be a str such as "200 OK", not %s' % type(status).__name__)
    if len(status) < 4 or not status[:3].isdigit() or status[3] != ' ' or '\r' in status or '\n' in status:
        raise ValueError('The status %r is not a three-digit code, a space and a reason' % (status,))


def check_headers(headers):
    if not isinstance(headers, list):
        raise TypeError('The headers must be a list of (name, value) tuples, not %s' % type(headers).__name__)
    for item in headers:
        # Any pair, as gunicorn, werkzeug and wsgiref take it: [name, value] lists are common. A
        # str is a sequence too, but never a pair.
        if (isinstance(item, (str, bytes, bytearray)) or not isinstance(item, Sequence) or len(item) != 2
                or not all(isinstance(x, str) for x in item)):
            raise TypeError('Each header must be a (name, value) pair of two str, got %r' % (item,))
        name, value = item
        if not name or not set(name) <= TOKEN:
            raise ValueError('The header name %r is not a valid field name' % (name,))
        if name.lower() in HOP_BY_HOP:
            raise ValueError('The app may not send the hop-by-hop header %r (PEP 3333): the server frames '
                             'the response and manages the connection' % (name,))
        if any(c in value for c in '\r\n\0'):
            raise ValueError('The value of the header %r contains a line break or NUL' % (name,))
        try:
            value.encode('latin-1')
        except UnicodeEncodeError:
            raise ValueError('The value of the header %r is not latin-1 text (PEP 3333): encode non-ASCII '
                             'values, e.g. with urllib.parse.quote' % (name,)) from None


def check_chunk(data):
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, str):
        raise TypeError('The app gave the str %r where WSGI needs bytes: encode it, e.g. '
                        'return [body.encode("utf-8")] instead of [body]' % (data[:40],))
    raise TypeError('The app gave a %s where WSGI needs bytes' % type(data).__name__)


def iterate(result):
    if isinstance(result, (str, bytes)):
        raise TypeError('The app returned a %s itself; WSGI needs an iterable of bytes: return [body]%s'
                        % (type(result).__name__, ' with body encoded, e.g. [body.encode("utf-8")]'
                           if isinstance(result, str) else ''))
    try:
        return iter(result)
    except TypeError:
        raise TypeError('The app returned %r, which is not iterable; WSGI needs an iterable of bytes, '
                        'e.g. return [b"Hello"]' % (result,)) from None


def send_whole(exchange, result):
    """A list or tuple result (every block is ready) goes out with its head in one RESPONSE frame."""
    if type(result) not in (list, tuple) or exchange.status_headers is None or exchange.headers_sent:
        return False
    blocks = [check_chunk(data) for data in result]
    body = b''.join(blocks)
    if len(body) > min(exchange.credit, BODY_CHUNK):
        return False
    status, headers = exchange.status_headers
    head = start_json(status, headers)
    if RESPONSE_HEAD.size + len(head) + len(body) > MAX_PAYLOAD:
        return False  # a head too large to share a frame with the body goes in START
    exchange.headers_sent = True
    exchange.channel.send(RESPONSE, exchange.rid, RESPONSE_HEAD.pack(len(head)) + head + body)
    return True


def run_app(app, exchange, multithread):
    """Calls the app for one request and streams its response; errors become ERROR frames."""
    channel = exchange.channel
    if exchange.aborted:
        # Its client left, or was answered 504, while it waited for a thread: the app never sees
        # it, so a request its client was told failed has no effect after all.
        channel.send(RESPONSE_END, exchange.rid)
        return

    def write(data):
        data = check_chunk(data)
        if exchange.status_headers is None:
            raise AssertionError('write() was called before start_response()')
        if not exchange.headers_sent:
            exchange.send_start()
        if data:
            exchange.send_body(data)

    def start_response(status, headers, exc_info=None):
        if exc_info:
            try:
                if exchange.headers_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif exchange.status_headers is not None:
            raise AssertionError('start_response() was called a second time without exc_info')
        check_status(status)
        check_headers(headers)
        exchange.status_headers = (status, [list(h) for h in headers])
        return write

    try:
        result = app(build_environ(exchange, multithread), start_response)
        if send_whole(exchange, result):
            return
        try:
            for data in iterate(result):
                data = check_chunk(data)
                if data:
                    write(data)
                if exchange.aborted:
                    break
        finally:
            close = getattr(result, 'close', None)
            if close is not None:
                close()
        if exchange.status_headers is None:
            raise AssertionError('The app returned without calling start_response()')
        if not exchange.headers_sent:
            exchange.send_start()
        channel.send(RESPONSE_END, exchange.rid)
    except ClientGone:
        channel.send(RESPONSE_END, exchange.rid)
    except BaseException as error:  # noqa: B902 - everything the app raises is reported
        message, trace = error_texts(error)
        channel.send_json(ERROR, exchange.rid,
                          {'message': message, 'traceback': trace, 'started': exchange.headers_sent})


def error_texts(error):
    """The message and traceback of `error` (being handled), cut to fit one frame.

    Never raises: an exception the app made unprintable would otherwise escape the handler that
    reports it, and its request would wait, unanswered, for the timeout.
    """
    try:
        try:
            text = str(error)
        except BaseException:  # noqa: B902 - the app's __str__ may raise anything
            text = '<exception str() failed>'  # as the traceback module says it
        message, trace = '%s: %s' % (type(error).__name__, text), traceback.format_exc()
    except BaseException:  # noqa: B902 - the last resort: the server must hear of the error
        message, trace = 'The app raised an exception that could not be formatted', ''
    # Cut whatever the app put in them: as JSON a character may take 12 bytes (an escaped
    # surrogate pair), and the traceback repeats the message.
    return clipped(message), clipped(trace)


def clipped(text, limit=MAX_PAYLOAD // 32):
    """Text cut to at most `limit` characters, saying so."""
    return text if len(text) <= limit else '%s… (%d more characters)' % (text[:limit], len(text) - limit)


def clipped_utf8(text, limit=MAX_PAYLOAD):
    """Text in UTF-8 (lone surrogates replaced), cut between characters to at most `limit` bytes, saying so."""
    data = text.encode('utf-8', 'replace')
    if len(data) <= limit:
        return data
    # 64 bytes are left for the note; a character cut in half at the end is left out whole.
    kept = len(data[:limit - 64].decode('utf-8', 'ignore'))
    return clipped(data.decode('utf-8'), kept).encode('utf-8')


def load_app(spec, app_dir):
    module_name, _, name = spec.partition(':')
    module = importlib.import_module(module_name)
    target = module
    for part in (name or 'application').split('.'):
        target = getattr(target, part)
    if not callable(target):
        raise TypeError('%s is a %s, not a callable WSGI app' % (spec, type(target).__name__))
    return target


def fatal(message):
    sys.stderr.write('wsgi_bridge: %s\n' % message)
    sys.stderr.flush()
    os._exit(4)


def serve(app, threads, channel):
    """Reads frames from fd 3 until the server closes it, then exits."""
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix='wsgi')
    exchanges = {}
    multithread = threads > 1
    buffer = bytearray()

    def finished(rid):
        return lambda _future: exchanges.pop(rid, None)

    while True:
        data = os.read(3, 256 * 1024)
        if not data:
            # The server closed the pipe or went away: nothing more can be answered.
            exit_gracefully()
        buffer += data
        while len(buffer) >= HEADER.size:
            length, kind, rid = HEADER.unpack_from(buffer)
            if kind not in INCOMING:
                fatal('Frame type 0x%x is unknown' % kind)
            if length > MAX_PAYLOAD:
                fatal('Frame of %d bytes is larger than the limit' % length)
            if len(buffer) < HEADER.size + length:
                break
            payload = bytes(buffer[HEADER.size:HEADER.size + length])
            del buffer[:HEADER.size + length]
            if kind == PING:
                channel.send(PONG, 0)
                continue
            if kind == REQUEST or kind == REQUEST_ALONE:
                exchange = Exchange(rid, json.loads(payload), channel)
                if kind == REQUEST_ALONE:
                    exchange.finish_input()
                exchanges[rid] = exchange
                pool.submit(run_app, app, exchange, multithread).add_done_callback(finished(rid))
                continue
            exchange = exchanges.get(rid)
            if exchange is None:
                continue  # the request already ended; late frames are harmless
            if kind == BODY:
                exchange.feed(payload)
            elif kind == END:
                exchange.finish_input()
            elif kind == ABORT:
                exchange.abort()
            elif kind == CREDIT:
                exchange.grant(struct.unpack('>I', payload)[0])


# How long the app's atexit handlers may take when the process ends, as the server allows.
EXIT_GRACE_SECONDS = 2.0
# How long they run before what the app started is asked to end too (an atexit hook may join it).
EXIT_ALONE_SECONDS = 1.0
# Taken by the first caller of exit_gracefully: the process ends once, whoever noticed first.
EXITING = threading.Lock()
# This process's parent as it started: the server, or a launcher between them.
START_PARENT = os.getppid()
# The server's pid (--server-pid, set by main; else the parent as it started).
SERVER_PID = START_PARENT


def exit_gracefully(server_gone=False):
    """Does what a normal exit would (the app's atexit handlers, logging's shutdown), then exits.

    os._exit, not sys.exit: that would wait for the pool's threads, and a request the app never
    finishes would keep the process alive. The handlers run first, alone, so that the app's own
    order holds (multiprocessing's hook stops a pool before it terminates its workers); after
    EXIT_ALONE_SECONDS what the app started is asked to end (SIGTERM to the group), in case a
    handler waits for it, and after EXIT_GRACE_SECONDS the process ends whatever runs. When the
    server is gone, nobody else will end what the app started: it is killed too.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if not EXITING.acquire(blocking=False):
        while True:  # another thread is ending the process
            time.sleep(3600)
    watchdog = threading.Timer(EXIT_GRACE_SECONDS, final_exit, (server_gone,))
    watchdog.daemon = True
    watchdog.start()
    ask_group = threading.Timer(EXIT_ALONE_SECONDS, signal_group, (signal.SIGTERM,))
    ask_group.daemon = True
    ask_group.start()
    # On this thread: a handler may need a lock this thread holds (logging's, an import's).
    run_exit_steps()
    ask_group.cancel()
    final_exit(server_gone)


def on_sigterm(_signum, _frame):
    """The server stops this process (or it sent itself the group's SIGTERM while exiting)."""
    if not EXITING.locked():
        exit_gracefully()


def run_exit_steps():
    # logging.shutdown is one of the atexit handlers already (run again, it does nothing); on its
    # own it still runs when an app cleared that list.
    for step in (atexit._run_exitfuncs, logging.shutdown, flush_output):
        try:
            step()
        except BaseException:  # noqa: B902 - a handler that fails is logged; the exit goes on
            try:
                traceback.print_exc()
            except BaseException:  # noqa: B902 - stderr gone with the server
                pass


def final_exit(server_gone):
    """Ends the process, asking what the app started to end too; with the server gone, what
    ignores that is killed (this process with it), since nobody else will."""
    if signal_group(signal.SIGTERM) and (server_gone or server_is_gone()):
        time.sleep(0.3)
        try:
            flush_output()
        except BaseException:  # noqa: B902 - stdout gone with the server
            pass
        signal_group(signal.SIGKILL)  # this process too
    os._exit(0)


def signal_group(signum):
    """Sends `signum` to this process's group, which the server made it lead (POSIX); False when
    it leads none. This process ignores SIGTERM by then."""
    if not hasattr(os, 'killpg') or os.getpgrp() != os.getpid():
        return False
    try:
        os.killpg(0, signum)
        return True
    except OSError:
        return False


def server_is_gone():
    """Whether the server has gone (POSIX): this process has another parent than it started with
    (a launcher such as a virtual environment's python may stand between them, so the parent is
    compared with itself, not with the server's pid), or the server it was started for had gone
    before it looked."""
    if os.name == 'nt':
        return False  # a parent's end changes nothing there; the closed pipe says it
    if os.getppid() != START_PARENT:
        return True
    if SERVER_PID == START_PARENT:
        return False
    try:
        os.kill(SERVER_PID, 0)
        return False
    except ProcessLookupError:
        return True
    except OSError:
        return False


def watch_server():
    """Ends the process once the server is gone: also while the app is still loading, when nothing
    reads the request pipe yet."""
    while True:
        time.sleep(1.0)
        if server_is_gone():
            exit_gracefully(server_gone=True)


def flush_output():
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()


def main():
    global SERVER_PID  # noqa: PLW0603 - set once, before any thread reads it
    parser = argparse.ArgumentParser(description='Runs a WSGI app for Tiny Server')
    parser.add_argument('--app', required=True)
    parser.add_argument('--app-dir', required=True)
    parser.add_argument('--threads', type=int, default=8)
    # The server's pid, which a server that died right after starting this process is not the parent of.
    parser.add_argument('--server-pid', type=int, default=None)
    args = parser.parse_args()
    if args.server_pid is not None:
        SERVER_PID = args.server_pid
    # Ctrl-C in a terminal reaches a process in the server's group (on Windows, where this process
    # has no group of its own); the server stops this process itself
    # (it closes fd 3, then sends SIGTERM), so the app is never cut off by a stray interrupt.
    if os.name == 'nt':
        # Elsewhere the process leads a session of its own, which the terminal's Ctrl-C misses;
        # ignored there, SIGINT would stay ignored in every program the app starts.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Stopped, or replaced after a file changed, the app exits as gunicorn's workers and
    # werkzeug's reloader let it: its atexit handlers and logging's shutdown run (SIGTERM's
    # default action would skip them).
    signal.signal(signal.SIGTERM, on_sigterm)
    threading.Thread(target=watch_server, daemon=True).start()
    # A process the app forks is not the bridge: SIGTERM ends it as it would end plain Python,
    # without running the bridge's exit (and the app's atexit handlers with the state of the fork).
    if hasattr(os, 'register_at_fork'):
        os.register_at_fork(after_in_child=lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL))
    channel = Channel(4)
    os.chdir(args.app_dir)
    sys.path.insert(0, args.app_dir)
    try:
        app = load_app(args.app, args.app_dir)
    except BaseException as error:  # noqa: B902 - an import error of any kind is reported
        message, trace = error_texts(error)
        channel.send_json(FAILED, 0, {'message': message, 'traceback': trace})
        # os._exit: sys.exit would wait for a thread the half-loaded app started.
        flush_output()
        os._exit(3)
    channel.send_json(READY, 0, {'pid': os.getpid(), 'python': sys.version.split()[0]})
    serve(app, max(1, args.threads), channel)


if __name__ == '__main__':
    main()
