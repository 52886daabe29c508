"""A threaded HTTP server on 127.0.0.1 for the tests of downloads and transfers."""

import contextlib
import http.server
import threading


@contextlib.contextmanager
def serve(handler_class):
  """Yields a running ThreadingHTTPServer of `handler_class` on a free port; its `base_url`
  is `http://127.0.0.1:<port>`. The handler reads its settings from the server."""
  httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
  httpd.daemon_threads = True
  httpd.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
  thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
  thread.start()
  try:
    yield httpd
  finally:
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)
