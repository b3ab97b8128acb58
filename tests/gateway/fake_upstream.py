"""A small OpenAI-compatible upstream for the gateway tests: answers with its own name, reports the
weights folder it "serves" as vLLM does (/v1/models `root`), JSON or SSE, optional delay, and
optionally a Prometheus /metrics text."""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Upstream:
    name: str
    model: str
    root: str
    delay_s: float = 0.0
    metrics: str | None = None  # Prometheus text served at /metrics (None: 404)
    chunk_delay_s: float = 0.0  # > 0: SSE sent chunk by chunk (chunked encoding), this long apart
    chunk_times: list[float] = field(default_factory=list)  # time.monotonic() as each chunk left
    requests: int = 0
    bodies: list[dict] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def api_base(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def start(self) -> Upstream:
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, data: bytes, ctype: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/v1/models":
                    self._send(200, json.dumps({"object": "list", "data": [
                        {"id": upstream.model, "object": "model", "root": upstream.root}]}).encode())
                elif self.path == "/metrics" and upstream.metrics is not None:
                    self._send(200, upstream.metrics.encode(), "text/plain; version=0.0.4")
                else:
                    self._send(404, b"{}")

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path == "/tokenize":  # vLLM's: here one token per whitespace-separated word
                    words = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
                    self._send(200, json.dumps({"count": words, "max_model_len": 2048}).encode())
                    return
                with upstream.lock:
                    upstream.requests += 1
                    upstream.bodies.append(body)
                time.sleep(upstream.delay_s)
                text = f"served-by:{upstream.name}"
                usage = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
                if body.get("stream") and upstream.chunk_delay_s > 0:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    pieces = [{"id": "c", "object": "chat.completion.chunk", "created": 0, "model": upstream.model,
                               "choices": [{"index": 0, "delta": {"content": f"part{i} "}, "finish_reason": None}]}
                              for i in range(3)]
                    for i, piece in enumerate([f"data: {json.dumps(p)}\n\n" for p in pieces] + ["data: [DONE]\n\n"]):
                        if i:
                            time.sleep(upstream.chunk_delay_s)
                        data = piece.encode()
                        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                        self.wfile.flush()
                        upstream.chunk_times.append(time.monotonic())
                    self.wfile.write(b"0\r\n\r\n")
                    return
                if body.get("stream"):
                    chunks = [{"id": "c", "object": "chat.completion.chunk", "created": 0, "model": upstream.model,
                               "choices": [{"index": 0, "delta": {"role": "assistant", "content": text},
                                            "finish_reason": None}]},
                              {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": upstream.model,
                               "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": usage}]
                    data = b"".join(f"data: {json.dumps(c)}\n\n".encode() for c in chunks) + b"data: [DONE]\n\n"
                    self._send(200, data, "text/event-stream")
                    return
                self._send(200, json.dumps({
                    "id": "x", "object": "chat.completion", "created": int(time.time()), "model": upstream.model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                 "finish_reason": "stop"}], "usage": usage}).encode())

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
