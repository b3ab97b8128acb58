"""A tiny fake OpenAI-compatible server (threaded http.server): streams SSE like vLLM, serves /metrics."""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class FakeBehaviour:
    """What the fake server does; tests change it between runs."""

    answer: str = "billing"
    fail_first: int = 0  # the first N generation requests get HTTP 503
    always_fail_containing: str | None = None  # prompts containing this text always get 500
    chunk_delay_s: float = 0.0
    cut_stream_containing: str | None = None  # stream dies (no finish reason) for these prompts
    model: str = "smollm2-135m-instruct"
    generation_requests: int = 0
    bodies: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _prompt_text(body: dict) -> str:
    if "messages" in body:
        return "\n".join(m["content"] for m in body["messages"])
    return body.get("prompt", "")


class _Handler(BaseHTTPRequestHandler):
    behaviour: FakeBehaviour
    protocol_version = "HTTP/1.0"  # close after each response: streaming without chunked encoding

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass

    def _send(self, status: int, body: str, ctype: str = "application/json") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        b = self.behaviour
        if self.path == "/v1/models":
            self._send(200, json.dumps({"object": "list", "data": [{"id": b.model, "object": "model"}]}))
        elif self.path == "/metrics":
            n = b.generation_requests
            text = (f"# TYPE vllm:prefix_cache_queries counter\nvllm:prefix_cache_queries_total{{engine=\"0\"}} {100.0 * n}\n"
                    f"vllm:prefix_cache_hits_total{{engine=\"0\"}} {40.0 * n}\n"
                    f"vllm:request_queue_time_seconds_sum{{engine=\"0\"}} {0.01 * n}\n"
                    f"vllm:request_queue_time_seconds_count{{engine=\"0\"}} {float(n)}\n"
                    f"vllm:request_queue_time_seconds_bucket{{engine=\"0\",le=\"0.3\"}} {float(n)}\n"
                    f"vllm:kv_cache_usage_perc{{engine=\"0\"}} 0.25\n"
                    f"vllm:request_success_total{{engine=\"0\",finished_reason=\"stop\"}} {float(n)}\n")
            self._send(200, text, "text/plain")
        else:
            self._send(404, "{}")

    def do_POST(self) -> None:
        b = self.behaviour
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        text = _prompt_text(body)
        with b.lock:
            b.generation_requests += 1
            b.bodies.append(body)
            number = b.generation_requests
        if number <= b.fail_first:
            self._send(503, '{"error": "overloaded"}')
            return
        if b.always_fail_containing and b.always_fail_containing in text:
            self._send(500, '{"error": "boom"}')
            return
        chat = self.path.endswith("/chat/completions")
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        pieces = [b.answer[: len(b.answer) // 2], b.answer[len(b.answer) // 2:]]
        for piece in pieces:
            choice = {"index": 0, "delta": {"content": piece}} if chat else {"index": 0, "text": piece}
            self.wfile.write(f"data: {json.dumps({'choices': [choice]})}\n\n".encode())
            self.wfile.flush()
            time.sleep(b.chunk_delay_s)
        if b.cut_stream_containing and b.cut_stream_containing in text:
            return  # connection closes without finish_reason or [DONE]
        final = {"index": 0, "delta": {}, "finish_reason": "stop"} if chat else {"index": 0, "text": "", "finish_reason": "stop"}
        self.wfile.write(f"data: {json.dumps({'choices': [final]})}\n\n".encode())
        usage = {"prompt_tokens": len(text.split()), "completion_tokens": len(pieces), "total_tokens": 0}
        self.wfile.write(f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")


@dataclass
class FakeServer:
    url: str
    behaviour: FakeBehaviour
    server: ThreadingHTTPServer


def serve_fake(behaviour: FakeBehaviour) -> tuple[str, ThreadingHTTPServer]:
    """A fake OpenAI server on a free port in a daemon thread: (base URL, server to shut down)."""
    handler = type("Handler", (_Handler,), {"behaviour": behaviour})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/v1", server
