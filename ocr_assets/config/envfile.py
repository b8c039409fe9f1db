"""Environment files (``ocr-coiled-s3.env`` and friends): dotenv syntax, validated keys.

An environment file holds configuration, never credentials. The accepted syntax is the common
dotenv subset: ``KEY=value`` lines, optional ``export`` prefix, blank lines, ``#`` comments
(whole-line, or after an unquoted value following a space), and values in single quotes
(literal) or double quotes (``\\"`` and ``\\\\`` escapes). Keys must be
:data:`~ocr_assets.config.environments.DEPLOYMENT_VARIABLES`; anything else is an error naming
the key and line, so a typo cannot silently fall back to a default.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from ocr_assets.config.compute import parse_backend, parse_overrides
from ocr_assets.config.environments import (
    DEPLOYMENT_VARIABLES,
    check_wipe,
    deployment_variables,
    get_policy,
    parse_bool,
    read_flag,
    resolve_version,
    validate_storage_root,
)
from ocr_assets.config.naming import DeploymentError

_LINE = re.compile(r"(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)")
_CREDENTIAL_HINTS = ("SECRET", "TOKEN", "PASSWORD", "ACCESS_KEY", "CREDENTIAL")


def parse_env_text(text: str, source: str = "<env file>") -> dict[str, str]:
    """Parse dotenv text into ``{key: value}`` without checking the keys.

    Raises:
        DeploymentError: naming ``source`` and the line for malformed lines, unterminated
            quotes and repeated keys.
    """
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.fullmatch(line)
        if match is None:
            raise DeploymentError(f"{source}:{number}: expected KEY=value, got {raw!r}")
        key, rest = match.groups()
        if key in values:
            raise DeploymentError(f"{source}:{number}: {key} is set twice")
        values[key] = _value(rest, f"{source}:{number}")
    return values


def _value(rest: str, where: str) -> str:
    if rest[:1] in ("'", '"'):
        quote = rest[0]
        end = _closing_quote(rest, quote)
        if end < 0:
            raise DeploymentError(f"{where}: unterminated {quote} quote")
        trailing = rest[end + 1 :].strip()
        if trailing and not trailing.startswith("#"):
            raise DeploymentError(f"{where}: unexpected text after the quoted value: {trailing!r}")
        body = rest[1:end]
        if quote == '"':
            body = re.sub(r"\\([\\\"])", r"\1", body)
        return body
    return re.split(r"\s+#", rest, maxsplit=1)[0].strip()


def _closing_quote(text: str, quote: str) -> int:
    i = 1
    while i < len(text):
        if quote == '"' and text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            return i
        i += 1
    return -1


def check_env_values(
    values: dict[str, str], source: str, environment: str | None = None
) -> dict[str, str]:
    """Validate parsed environment-file values; return them unchanged.

    Checks: every key is a deployment variable and none looks like a credential;
    ``OCR_ENVIRONMENT`` is present, known and (when ``environment`` is given) the expected one;
    ``OCR_STORAGE_ROOT`` is present and usable; ``OCR_INPUT_ROOT``, ``OCR_VERSION``,
    ``OCR_WIPE`` (never true in production), the branch flags, ``OCR_COMPUTE`` and
    ``OCR_COMPUTE_OVERRIDES`` are well formed when set (``OCR_VERSION`` may be empty for CI to fill in, even in production).

    Raises:
        DeploymentError: naming ``source`` and the offending key.
    """
    for key in values:
        if any(hint in key.upper() for hint in _CREDENTIAL_HINTS):
            raise DeploymentError(
                f"{source}: {key} looks like a credential; credentials come from the "
                "environment (AWS role, Coiled token), never from files"
            )
        if key not in DEPLOYMENT_VARIABLES:
            raise DeploymentError(
                f"{source}: unknown key {key}; allowed keys: {', '.join(DEPLOYMENT_VARIABLES)}"
            )
    for required in ("OCR_ENVIRONMENT", "OCR_STORAGE_ROOT"):
        if not values.get(required):
            raise DeploymentError(f"{source}: {required} is missing or empty")
    try:
        file_environment = get_policy(values["OCR_ENVIRONMENT"]).name
        if environment is not None and file_environment != environment:
            raise DeploymentError(
                f"OCR_ENVIRONMENT={file_environment!r}, but this file should configure "
                f"{environment!r}"
            )
        validate_storage_root(values["OCR_STORAGE_ROOT"])
        if values.get("OCR_INPUT_ROOT"):
            validate_storage_root(values["OCR_INPUT_ROOT"], "OCR_INPUT_ROOT")
        if values.get("OCR_VERSION"):
            resolve_version(file_environment, values["OCR_VERSION"])
        for flag in ("OCR_CREATE_PYRAMID", "OCR_WRITE_REGIONAL_STATS"):
            read_flag(values, flag, default=False)
        if "OCR_WIPE" in values:
            check_wipe(file_environment, parse_bool(values["OCR_WIPE"], "OCR_WIPE"))
        if values.get("OCR_COMPUTE"):
            parse_backend(values["OCR_COMPUTE"])
        if values.get("OCR_COMPUTE_OVERRIDES"):
            parse_overrides(values["OCR_COMPUTE_OVERRIDES"])
    except DeploymentError as exc:
        raise DeploymentError(f"{source}: {exc}") from exc
    return values


def load_env_file(path: str | Path, environment: str | None = None) -> dict[str, str]:
    """Read and validate an environment file (see :func:`check_env_values`).

    Args:
        path: The file.
        environment: The environment the file must configure, if known.

    Raises:
        DeploymentError: naming the file (and line or key) for any problem, including a
            missing file.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise DeploymentError(f"cannot read environment file {file}: {exc.strerror}") from exc
    return check_env_values(parse_env_text(text, str(file)), str(file), environment)


def env_file_for(environment: str, folder: str | Path = ".") -> Path:
    """The path of ``environment``'s environment file in ``folder`` (which may not exist)."""
    return Path(folder) / get_policy(environment).env_file


def layered_variables(
    environment: str,
    flags: Mapping[str, str],
    environ: Mapping[str, str],
    env_file: str | Path | None = None,
    folder: str | Path = ".",
) -> dict[str, str]:
    """The deployment variables of ``environment``, from weakest to strongest source.

    1. the environment's env file (``env_file``, else :func:`env_file_for` in ``folder`` when
       it exists; a given ``env_file`` must exist);
    2. the deployment variables of ``environ`` (the process environment), which describe the
       process's own environment: when its ``OCR_ENVIRONMENT`` names another environment this
       is an error rather than a silent mix of two configurations;
    3. ``flags`` (variable -> value, e.g. from command-line options).

    Unset variables are left out; :func:`~ocr_assets.config.plan.build_plan` applies the
    environment's defaults.

    Raises:
        DeploymentError: naming the file or variable, for an invalid env file or a conflicting
            ``OCR_ENVIRONMENT``.
    """
    get_policy(environment)
    path = Path(env_file) if env_file is not None else env_file_for(environment, folder)
    variables: dict[str, str] = {}
    if env_file is not None or path.exists():
        variables.update(load_env_file(path, environment))
    process = deployment_variables(environ)
    claimed = process.get("OCR_ENVIRONMENT")
    if claimed and claimed != environment:
        raise DeploymentError(
            f"OCR_ENVIRONMENT={claimed!r} is set in the environment, but {environment!r} was "
            "asked for; unset it (and the other OCR_* variables) or ask for that environment"
        )
    variables.update(process)
    variables.update(flags)
    variables["OCR_ENVIRONMENT"] = environment
    return variables
