"""A loopback HTTP server for download tests (nothing here reaches the internet).

    with serve_directory(tmp_path) as base_url:      # e.g. 'http://127.0.0.1:40123/'
        tlslim.download.fetch(base_url + 'file.tar.gz', dest)
"""
import contextlib
import functools
import http.server
import threading


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass


@contextlib.contextmanager
def serve_directory(directory):
    """Serve `directory` over HTTP on 127.0.0.1 at a free port, in a thread; yield the base URL.

    The base URL ends with '/', so `base_url + relative_path` addresses a file. The server is
    shut down when the block exits.
    """
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="tlslim-test-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
