"""Run one `policies/*_test.rego` file with regopy and print `{test: passed}` as JSON.

Each test reads its input from the file's `cases[test]`; the runner sets it with `set_input`
rather than the test using `with input as`, because regopy 1.5.2 crashes the process when a
builtin reads `input` under `with` (test_regopy_quirks.py keeps the reproduction). The suite
runs this in a subprocess per file, so a crash fails that file's tests instead of the run.

Usage: python -m tests.policies.rego_runner policies/hipaa_test.rego
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import regopy

from policies.bundle import load_bundle, package_of

TEST_RULE = re.compile(r"^(test_\w+)\b", re.MULTILINE)


def rego_test_names(text: str) -> list[str]:
    return list(dict.fromkeys(TEST_RULE.findall(text)))


def run(path: Path) -> dict[str, bool]:
    text = path.read_text()
    package = package_of(path.name, text)
    interpreter = regopy.Interpreter()
    for module in load_bundle().modules:
        interpreter.add_module(module.name, module.text)
    interpreter.add_module(path.name, text)
    cases = json.loads(str(interpreter.query(f"data.{package}.cases")))["expressions"][0]
    results = {}
    for name in rego_test_names(text):
        interpreter.set_input(cases.get(name, {}))
        output = str(interpreter.query(f"data.{package}.{name}"))
        results[name] = output != "undefined" and json.loads(output)["expressions"][0] is True
    return results


if __name__ == "__main__":
    sys.stdout.write(json.dumps(run(Path(sys.argv[1]))) + "\n")
