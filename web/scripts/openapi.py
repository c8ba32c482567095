"""Print ChatGate's OpenAPI document (what the server serves at /openapi.json) on stdout.

Builds the app with default settings and asks FastAPI for the schema: no server, no database,
no lifespan. `make web-types` feeds it, with `--schemas-only`, to openapi-typescript to write
web/src/api/openapi.d.ts.
"""

from __future__ import annotations

import argparse
import json
import sys

from chatgate.app import create_app
from chatgate.config import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--schemas-only",
        action="store_true",
        # The web app types what it sends and receives; typed operations would be ~16,000
        # generated lines that nothing imports.
        help="leave the operations (paths) out, keep the schemas",
    )
    args = parser.parse_args()
    schema = create_app(Settings()).openapi()
    if args.schemas_only:
        schema["paths"] = {}
    json.dump(schema, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
