"""The read side speaks its own port: projections, queries, maintenance, the catalog
projector and the composition root load no PyMongo (only the MongoDB adapters do)."""

from __future__ import annotations

import subprocess
import sys

READ_SIDE = (
    "travelbuddy.readmodels.projections", "travelbuddy.readmodels.runner",
    "travelbuddy.readmodels.queries", "travelbuddy.readmodels.maintenance",
    "travelbuddy.integration.catalog", "travelbuddy.graphql.fanout", "travelbuddy.bootstrap",
)


def test_the_read_side_and_bootstrap_import_no_pymongo() -> None:
    code = ("import sys\n" + "".join(f"import {module}\n" for module in READ_SIDE)
            + "print(sorted(m for m in sys.modules if m.split('.')[0] in {'pymongo', 'bson'}))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=60)

    assert loaded.stdout.strip() == "[]"


def test_the_mongodb_adapters_do_load_it() -> None:  # the check above can fail
    code = "import sys\nimport travelbuddy.readmodels.mongo\nprint('pymongo' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=60)

    assert loaded.stdout.strip() == "True"
