"""The ceiling for bench/flags.py: a bare FastAPI endpoint under the same uvicorn settings."""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI()


@app.get("/hello")
async def hello() -> dict[str, str]:
    return {"hello": "world"}
