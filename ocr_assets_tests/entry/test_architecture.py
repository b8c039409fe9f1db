"""The shape of the code location and of the package, held still by tests.

- A snapshot of the ``Definitions`` (assets, checks, jobs, partitions, resources): a change to
  the graph a user sees must change ``definitions_snapshot.json`` with it, on purpose
  (``UPDATE_SNAPSHOT=1 make test PYTEST_ARGS="-k snapshot"`` rewrites it; review the diff).
- Settings are parsed once: only the settings module and the entry points read the process
  environment.
"""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path
from typing import Any

import dagster as dg

import ocr_assets
from ocr_assets.code_location import build_definitions
from ocr_assets.config.settings import Settings

SNAPSHOT = Path(__file__).with_name("definitions_snapshot.json")
PACKAGE = Path(ocr_assets.__file__).parent
#: The modules that may read the process environment: the settings, and the GitHub Actions
#: helper that runs before the package's dependencies are installed.
READS_ENVIRONMENT = {"config/settings.py", "deploy/ci.py"}


def snapshot(defs: dg.Definitions) -> dict[str, Any]:
    """What a user of the code location sees of it, as plain JSON."""
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys()):
        node = graph.get(key)
        partitions = node.partitions_def
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "partitions": getattr(partitions, "name", None) if partitions else None,
            "materializable": node.is_materializable,
            "depends_on": sorted(parent.to_user_string() for parent in node.parent_keys),
            "kinds": sorted(node.kinds),
            "code_version": node.code_version,
        }
    checks = {
        f"{key.asset_key.to_user_string()}:{key.name}": {
            "blocking": graph.get_check_spec(key).blocking,
            "partitioned": graph.get_check_spec(key).partitions_def is not None,
        }
        for key in sorted(graph.asset_check_keys, key=str)
    }
    jobs = {}
    for job in sorted(defs.resolve_all_job_defs(), key=lambda j: j.name):
        if job.name.startswith("__"):
            continue
        policy = job.op_retry_policy
        jobs[job.name] = {
            "assets": sorted(key.to_user_string() for key in job.asset_layer.selected_asset_keys),
            "partitioned": job.partitions_def is not None,
            "ops": sorted(job.graph.node_dict) if not job.asset_layer.selected_asset_keys else [],
            "retries": None if policy is None else [policy.max_retries, policy.delay],
        }
    resources = {key: type(value).__name__ for key, value in sorted(defs.resources.items())}
    sensors = sorted(sensor.name for sensor in defs.sensors or [])
    return {
        "assets": assets,
        "checks": checks,
        "jobs": jobs,
        "resources": resources,
        "sensors": sensors,
    }


def test_definitions_snapshot(tmp_path: Path) -> None:
    settings = Settings(storage_root=str(tmp_path), input_root=str(tmp_path / "input"))
    current = snapshot(build_definitions(settings))
    if os.environ.get("UPDATE_SNAPSHOT"):
        SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    recorded = json.loads(SNAPSHOT.read_text())
    assert current == recorded, (
        "the code location changed: review the difference and, if it is intended, rewrite "
        f"{SNAPSHOT.name} with UPDATE_SNAPSHOT=1"
    )


def environment_reads(path: Path) -> list[int]:
    """Lines of ``path`` that read the process environment (``os.environ``, ``os.getenv``,
    ``from os import environ``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    attribute = {"environ", "getenv", "environb", "getenvb"}
    lines = []
    for node in ast.walk(tree):
        reads = isinstance(node, ast.Attribute) and node.attr in attribute
        reads = reads and isinstance(node.value, ast.Name) and node.value.id == "os"
        imports = isinstance(node, ast.ImportFrom) and node.module == "os"
        imports = imports and any(alias.name in attribute for alias in node.names)
        if reads or imports:
            lines.append(node.lineno)
    return lines


def test_only_the_settings_read_the_environment() -> None:
    readers = {
        str(path.relative_to(PACKAGE)): lines
        for path in sorted(PACKAGE.rglob("*.py"))
        if (lines := environment_reads(path))
    }
    assert set(readers) == READS_ENVIRONMENT, (
        "settings are parsed once, in ocr_assets/config/settings.py; other modules receive "
        f"values. Reading the environment elsewhere: {readers}"
    )


def test_the_environment_check_finds_a_reader(tmp_path: Path) -> None:
    """The check above would catch a new reader (each way of writing it)."""
    for source in (
        "import os\nroot = os.environ['OCR_STORAGE_ROOT']\n",
        "import os\nroot = os.getenv('OCR_STORAGE_ROOT')\n",
        "from os import environ\n",
    ):
        module = tmp_path / "module.py"
        module.write_text(source)
        assert environment_reads(module), source
