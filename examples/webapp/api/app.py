"""A tiny JSON API: GET /health, GET /count (the worker's tick count), POST /hits (increments)."""
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DATA_DIR = os.environ.get("DATA_DIR", "/data")
HITS = os.path.join(DATA_DIR, "hits")
TICKS = os.path.join(DATA_DIR, "ticks")


def read_number(path):
    try:
        with open(path) as f:
            return int(f.read().strip() or 0)
    except FileNotFoundError:
        return 0


class Handler(BaseHTTPRequestHandler):
    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            self.reply(200, {"status": "ok", "version": os.environ.get("APP_VERSION", "dev")})
        elif self.path == "/count":
            self.reply(200, {"greeting": os.environ.get("GREETING", ""), "hits": read_number(HITS), "ticks": read_number(TICKS)})
        else:
            self.reply(404, {"error": "not found"})

    def do_POST(self):
        if self.path != "/hits":
            self.reply(404, {"error": "not found"})
            return
        hits = read_number(HITS) + 1
        with open(HITS + ".tmp", "w") as f:
            f.write(str(hits))
        os.replace(HITS + ".tmp", HITS)
        self.reply(200, {"hits": hits})


if __name__ == "__main__":
    os.makedirs(DATA_DIR, exist_ok=True)
    port = int(os.environ.get("PORT", "8000"))
    print(f"api listening on :{port}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
