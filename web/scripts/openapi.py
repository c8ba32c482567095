"""Print ChatGate's OpenAPI document (what the server serves at /openapi.json) on stdout.

Builds the app with default settings and asks FastAPI for the schema: no server, no database,
no lifespan. `make web-types` feeds it to openapi-typescript to write web/src/api/openapi.d.ts.
"""

from __future__ import annotations

import json
import sys

from chatgate.app import create_app
from chatgate.config import Settings


def main() -> None:
    schema = create_app(Settings()).openapi()
    json.dump(schema, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
