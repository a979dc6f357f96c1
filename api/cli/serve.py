"""``policykg serve``: the HTTP API and the web page with uvicorn."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from policykg.api.cli.common import DataOpt, _fail, _kb, app, err


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default: \\[server] host, 127.0.0.1).", show_default=False)] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port (default: \\[server] port, 8000).", show_default=False)] = None,
    api_key_env: Annotated[str | None, typer.Option("--api-key-env", help="Environment variable holding the upload API key (unset: uploads off; default POLICYKG_API_KEY).", show_default=False)] = None,
    max_upload_mb: Annotated[int | None, typer.Option("--max-upload-mb", min=1, max=1024, help="Upload size limit in MB (default 50).", show_default=False)] = None,
    cors_origin: Annotated[list[str] | None, typer.Option("--cors-origin", help="Allowed CORS origin (repeatable; default none).")] = None,
    data: DataOpt = None,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs) and the web page at / with uvicorn (defaults from \\[server] in policykg.toml)."""
    try:
        import uvicorn

        from policykg.api.http import create_app
    except ImportError as exc:
        _fail(f"the server needs fastapi and uvicorn: pip install 'policykg[server]' ({exc.name} missing)")
    kb = _kb(data)
    server = kb.config.server
    if kb.config.threads is None:  # queries run side by side: one encoder thread each (see ServerConfig)
        kb.config.threads = server.threads
    host, port = host or server.host, port or server.port
    api_key = os.environ.get(api_key_env or server.api_key_env) or None
    application = create_app(
        kb, api_key=api_key, max_upload_bytes=(max_upload_mb or server.max_upload_mb) * 1024 * 1024,
        cors_origins=list(cors_origin or server.cors_origins),
    )
    err.print(
        f"policykg on http://{host}:{port}/ (data {kb.data_dir}; uploads {'on' if api_key else 'off'})", highlight=False,
    )
    uvicorn.run(application, host=host, port=port, log_level="info", server_header=False)
