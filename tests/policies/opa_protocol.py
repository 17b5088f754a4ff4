"""A small HTTP server speaking the part of OPA's REST API the OPA adapter uses.

`PUT /v1/policies/{id}` stores a module (400 with OPA's error shape when it does not parse);
`POST /v1/data/{path}` evaluates `data.<path>` for `{"input": ...}` with regopy and answers
`{"result": ...}` (or `{}` when undefined), as OPA does. It exists so the adapter's wire format
is exercised for real; the adapter is verified against real OPA only through compose.yaml.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import regopy


class OpaProtocolServer:
    def __init__(self) -> None:
        self.modules: dict[str, str] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path), for assertions
        self._lock = threading.Lock()
        self._interpreter: regopy.Interpreter | None = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_PUT(self) -> None:
                server.requests.append(("PUT", self.path))
                prefix = "/v1/policies/"
                if not self.path.startswith(prefix):
                    self._answer(404, {"code": "resource_not_found", "message": "not found"})
                    return
                status, body = server.put_policy(self.path[len(prefix) :], self._body().decode())
                self._answer(status, body)

            def do_POST(self) -> None:
                server.requests.append(("POST", self.path.split("?")[0]))
                prefix = "/v1/data/"
                if not self.path.startswith(prefix):
                    self._answer(404, {"code": "resource_not_found", "message": "not found"})
                    return
                try:
                    document = json.loads(self._body() or b"{}")
                except ValueError:
                    self._answer(400, {"code": "invalid_parameter", "message": "body is not JSON"})
                    return
                path = self.path[len(prefix) :].split("?")[0].strip("/").replace("/", ".")
                status, body = server.query(path, document.get("input"))
                self._answer(status, body)

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> OpaProtocolServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def put_policy(self, policy_id: str, text: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            candidate = dict(self.modules, **{policy_id: text})
            interpreter = regopy.Interpreter()
            try:
                for name, module in candidate.items():
                    interpreter.add_module(name, module)
            except regopy.RegoError as error:
                message = str(error).splitlines()[0] if str(error) else "rego_parse_error"
                return 400, {
                    "code": "invalid_parameter",
                    "message": "error(s) occurred while compiling module(s)",
                    "errors": [{"code": "rego_parse_error", "message": message}],
                }
            self.modules = candidate
            self._interpreter = interpreter
            return 200, {}

    def query(self, path: str, document_input: Any) -> tuple[int, dict[str, Any]]:
        with self._lock:
            if self._interpreter is None:
                return 200, {}
            self._interpreter.set_input(document_input if document_input is not None else {})
            output = self._interpreter.query(f"data.{path}")
            text = str(output)
            if not output.ok():
                return 500, {"code": "internal_error", "message": "evaluation failed"}
            if text == "undefined":
                return 200, {}
            return 200, {"result": json.loads(text)["expressions"][0]}
