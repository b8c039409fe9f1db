"""How the command-line entry points end: one line per error, the traceback on ``--verbose``.

``ocr-assets`` and ``python -m ocr_assets.demo`` run their work through :func:`run_command`:

- a :class:`~ocr_assets.config.naming.DeploymentError` (a setting, an option, a refused
  deployment) prints its message, which names the setting and the fix; exit status 2;
- any other error prints ``error: <kind>: <message>`` and a hint to rerun with ``--verbose``
  (missing credentials, an unreachable store, a full disk); exit status 1;
- output piped into a command that stops reading (``| head``) ends quietly, as ``cat`` does;
- Ctrl-C prints ``interrupted``; exit status 130.

With ``verbose`` every error is raised with its traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from ocr_assets.config.naming import DeploymentError

#: Exit status of a configuration error.
EXIT_CONFIG_ERROR = 2
#: Exit status of any other error.
EXIT_ERROR = 1
#: Exit status after Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130


def run_command(prog: str, work: Callable[[], int], verbose: bool = False) -> int:
    """Run ``work`` (returning an exit status) and turn what it raises into one line."""
    try:
        status = work()
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        # The reader went away (``| head``): stop writing, without a second error at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except DeploymentError as error:
        if verbose:
            raise
        print(f"{prog}: error: {error}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    except Exception as error:
        if verbose:
            raise
        lines = str(error).strip().splitlines()
        print(
            f"{prog}: error: {type(error).__name__}: {lines[0] if lines else repr(error)} "
            "(--verbose shows the traceback)",
            file=sys.stderr,
        )
        return EXIT_ERROR
