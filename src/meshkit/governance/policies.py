"""Rego policies from ``policies/*.rego``, evaluated embedded with regopy or by a remote OPA server.

Every module may contribute to one package (``meshkit.access`` by default). The package's
document is read as: ``allow`` (boolean), ``deny`` (set of reasons), ``reasons`` (set of strings
explaining an allow) and ``actions`` (set of ``{"type": ..., "column": ..., "predicate": ...}``).
``policies/*.json`` files are loaded as base documents (``data``); their ``purposes`` are the
declared purposes, checked before the policies are evaluated. Rules named ``test_*`` are
policy unit tests (``meshkit policy test``); files named ``*_test.rego`` are loaded only then.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from meshkit.core.errors import ConfigError, TransientError
from meshkit.core.files import read_text
from meshkit.engines import duckdb as _duckdb_engine  # noqa: F401  # NOTE: duckdb before regopy's library, or it aborts
from meshkit.governance.decision import Decision, combine
from meshkit.governance.purposes import Purposes, load_purposes

_ERROR = re.compile(r"\(error \d+:(?P<file>[^|]*)\|(?P<offset>\d+)\|\d+\s+\(errormsg \d+:(?P<msg>[^)]*)\)")
_PACKAGE = re.compile(r"^\s*package\s+([\w.]+)", re.MULTILINE)
_TEST_RULE = re.compile(r"^(test_\w+)\b", re.MULTILINE)
_stdout_lock = threading.Lock()


@contextlib.contextmanager
def _native_stdout_silenced():
    """regopy's native library prints parse errors on stdout; we report them ourselves."""
    with _stdout_lock:
        sys.stdout.flush()
        saved = os.dup(1)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        try:
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            os.close(devnull)


@dataclass
class PolicyTestResult:
    """Outcome of one ``test_*`` rule."""

    file: str
    package: str
    name: str
    passed: bool
    message: str = ""


_ENGINE_FAILED = (
    "the embedded engine could not evaluate it (its `with input as` is limited, see "
    "docs/policies.md): write the case as a *_test.yaml decision test"
)


class PolicyEngine:
    """The policies of one workspace folder, reloaded when a file changes."""

    def __init__(self, policy_dir: Path, *, package: str = "meshkit.access", default_deny: bool = True,
                 opa_url: str | None = None):  # fmt: skip
        self.policy_dir = Path(policy_dir)
        self.package = package
        self.default_deny = default_deny
        self.opa_url = opa_url.rstrip("/") if opa_url else None
        self._lock = threading.Lock()
        self._signature: tuple | None = None
        self._interp = None
        self._pushed: tuple | None = None
        self._purposes: tuple[tuple, Purposes] | None = None

    # ------------------------------------------------------------------ files

    def files(self, suffix: str = ".rego", *, tests: bool = False) -> list[Path]:
        """Policy (or data) files; ``*_test.rego`` files only with ``tests``."""
        if not self.policy_dir.is_dir():
            return []
        found = sorted(p for p in self.policy_dir.rglob(f"*{suffix}") if p.is_file())
        return found if tests else [p for p in found if not p.name.endswith("_test.rego")]

    def signature(self) -> tuple:
        """Changes whenever a policy or data file is added, removed or edited."""
        return tuple(
            (str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in self.files() + self.files(".json")
        )

    def where(self, path: Path) -> str:
        """A policy file's path as errors and test results show it (relative to the workspace)."""
        try:
            return str(path.relative_to(self.policy_dir.parent))
        except ValueError:
            return str(path)

    def _compile(self, tests: bool = False):
        from regopy import Interpreter

        interp = Interpreter()
        for path in self.files(tests=tests):
            source = read_text(path)
            try:
                with _native_stdout_silenced():
                    interp.add_module(self.where(path), source)
            except Exception as exc:  # regopy raises RegoError with an s-expression of errors
                raise self._syntax_error(path, source, str(exc)) from None
        for path in self.files(".json"):
            try:
                interp.add_data_json(read_text(path))
            except Exception as exc:
                raise ConfigError(
                    f"Cannot load policy data: {exc}.", where=self.where(path), hint="Fix the JSON."
                ) from None
        return interp

    def _syntax_error(self, path: Path, source: str, text: str) -> ConfigError:
        match = _ERROR.search(text)
        if not match:
            return ConfigError(f"Cannot compile the policy: {text.strip()[:300]}", where=self.where(path))
        line = source[: int(match["offset"])].count("\n") + 1
        return ConfigError(
            f"Rego error: {match['msg']}.", where=f"{self.where(path)}:{line}", hint="Fix the policy."
        )

    def interpreter(self):
        """The compiled policies (rebuilt after any change to the files)."""
        signature = self.signature()
        if signature != self._signature or self._interp is None:
            self._interp = self._compile()
            self._signature = signature
        return self._interp

    def purposes(self, signature: tuple | None = None) -> Purposes:
        """The purposes declared in the policy data (reloaded after any change to the files).

        ``signature`` is the files' current ``signature()`` when the caller has just taken it.
        """
        signature = self.signature() if signature is None else signature
        if self._purposes is None or self._purposes[0] != signature:
            self._purposes = (signature, load_purposes(self.files(".json"), self.where))
        return self._purposes[1]

    # ------------------------------------------------------------------ evaluation

    def query(self, expression: str, document: dict[str, Any] | None = None, *, interp=None) -> Any:
        """Evaluate ``expression`` (e.g. ``data.meshkit.access``) with ``input`` = ``document``.

        Returns the JSON value, or ``None`` when it is undefined.
        """
        with self._lock:
            interp = interp or self.interpreter()
            if document is not None:
                interp.set_input(document)
            with _native_stdout_silenced():
                output = interp.query(f"x = {expression}")
            # NOTE: regopy crashes when an error output is inspected, so an error is reported unread.
            if not output.ok():
                raise ConfigError(f"Policy evaluation of `{expression}` failed in the Rego engine.",
                                  where=str(self.policy_dir), hint="Check the policies with `meshkit policy test`.")  # fmt: skip
            if str(output).strip() == "undefined":
                return None
            return json.loads(output.binding("x").json())

    def evaluate(self, document: dict[str, Any]) -> dict[str, Any]:
        """The raw policy document for ``input`` = ``document``."""
        if self.opa_url:
            return self._evaluate_remote(document)
        if not self.files():
            return {}
        result = self.query(f"data.{self.package}", document)
        return result if isinstance(result, dict) else {}

    def decide(self, document: dict[str, Any]) -> Decision:
        """Check the purpose against the declared ones, then evaluate and combine into a ``Decision``."""
        dataset = (document.get("dataset") or {}).get("name", "")
        purposes = self.purposes()
        document = {**document, "purpose": purposes.resolve(document.get("purpose"))}
        role = (document.get("subject") or {}).get("role")
        if refusal := purposes.refusal(role, document["purpose"]):
            return Decision(allowed=False, reason=refusal, dataset=dataset)
        result = self.evaluate(document)
        try:
            return combine(result, default_deny=self.default_deny, dataset=dataset, document=document)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ConfigError(f"A policy returned an invalid action: {first['msg']}.", where=f"package {self.package}",
                              hint="Actions are {type: RedactColumn|RemoveColumn|DigestColumn, column: NAME} "
                                   "or {type: FilterRows, predicate: SQL}.") from None  # fmt: skip

    # ------------------------------------------------------------------ remote OPA

    def _http(self, method: str, path: str, body: bytes, content_type: str) -> dict:
        request = urllib.request.Request(f"{self.opa_url}{path}", data=body, method=method,
                                         headers={"Content-Type": content_type})  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:300]
            raise ConfigError(f"OPA at {self.opa_url} refused {method} {path}: {exc.code} {detail}") from None
        except (urllib.error.URLError, TimeoutError) as exc:
            raise TransientError(
                f"Cannot reach OPA at {self.opa_url}: {exc}.", hint="Check `policy_opa_url`."
            ) from None

    def _evaluate_remote(self, document: dict[str, Any]) -> dict[str, Any]:
        signature = self.signature()
        if signature != self._pushed:
            for path in self.files():
                policy_id = "meshkit/" + path.relative_to(self.policy_dir).as_posix()
                self._http("PUT", f"/v1/policies/{policy_id}", path.read_bytes(), "text/plain")
            self._pushed = signature
        body = json.dumps({"input": document}).encode()
        result = self._http("POST", f"/v1/data/{self.package.replace('.', '/')}", body, "application/json")
        return result.get("result") or {}

    # ------------------------------------------------------------------ unit tests

    def run_tests(self, match: str | None = None) -> list[PolicyTestResult]:
        """Run every ``test_*`` rule (those whose name contains ``match``)."""
        results = []
        interp = self._compile(tests=True)
        for path in self.files(tests=True):
            source = read_text(path)
            package = _PACKAGE.search(source)
            if not package:
                raise ConfigError("A Rego module needs a `package` line.", where=self.where(path))
            for name in dict.fromkeys(_TEST_RULE.findall(source)):
                if match and match not in name:
                    continue
                try:
                    value = self.query(f"data.{package[1]}.{name}", {}, interp=interp)
                except ConfigError:
                    results.append(
                        PolicyTestResult(self.where(path), package[1], name, False, _ENGINE_FAILED)
                    )
                    continue
                message = (
                    ""
                    if value is True
                    else f"evaluated to {json.dumps(value) if value is not None else 'undefined'}"
                )
                results.append(PolicyTestResult(self.where(path), package[1], name, value is True, message))
        return results
