"""Reproductions of regopy 1.5.2 defects our Rego works around. Each asserts the defect is
still there, so the day the library is fixed this file fails and the workaround can go."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import regopy


def _run(module: str, query: str) -> subprocess.CompletedProcess[str]:
    program = textwrap.dedent(
        f"""
        import regopy
        interpreter = regopy.Interpreter()
        interpreter.add_module("q.rego", {module!r})
        print(interpreter.query({query!r}))
        """
    )
    return subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False
    )


def test_membership_on_input_under_with_crashes_the_process() -> None:
    module = (
        'package q\nimport rego.v1\nhas_phi if "phi" in input.classes\n'
        't if has_phi with input as {"classes": ["phi"]}\n'
    )
    assert _run(module, "data.q.t").returncode < 0  # killed by a signal (SIGSEGV)


def test_a_builtin_reading_input_under_with_crashes_the_process() -> None:
    # Why policies/*_test.rego take their input from `cases` instead of `with input as`.
    module = (
        'package q\nimport rego.v1\nact := object.get(input, "action", "")\n'
        't if { act == "x" with input as {"action": "x"} }\n'
    )
    assert _run(module, "data.q.t").returncode < 0


def test_the_same_rule_is_fine_with_set_input() -> None:
    interpreter = regopy.Interpreter()
    interpreter.add_module("q.rego", 'package q\nimport rego.v1\nact := object.get(input, "action", "")\n')
    interpreter.set_input({"action": "x"})
    assert str(interpreter.query("data.q.act")) == '{"expressions":["x"]}'


def test_rfc3339_with_a_z_suffix_does_not_parse() -> None:
    # Why common.rego spells a trailing Z as +00:00 before time.parse_rfc3339_ns.
    interpreter = regopy.Interpreter()
    assert str(interpreter.query('x := time.parse_rfc3339_ns("2026-11-23T10:00:00Z")')) == "undefined"
    assert "1795428000000000000" in str(
        interpreter.query('x := time.parse_rfc3339_ns("2026-11-23T10:00:00+00:00")')
    )


def test_arrays_from_sort_cannot_be_indexed_or_compared() -> None:
    # Why the Rego suites compare the engine's sorted arrays by membership.
    interpreter = regopy.Interpreter()
    interpreter.add_module(
        "q.rego",
        'package q\nimport rego.v1\ns := sort({"b", "a"})\n'
        'equal if s == ["a", "b"]\nfirst := s[0]\nmember if "a" in s\n',
    )
    assert str(interpreter.query("data.q")) == '{"expressions":[{"member":true, "s":["a","b"]}]}'


def test_set_input_term_keeps_string_escapes_as_written() -> None:
    # Why policies/inprocess.py sends an input holding a backslash value by value (set_input):
    # the JSON text would reach the policies with its escapes undecoded.
    interpreter = regopy.Interpreter()
    interpreter.set_input_term(json.dumps({"x": "a\nb", "y": "caf\u00e9"}))
    assert str(interpreter.query("count(input.x)")) == '{"expressions":[4]}'  # not 3
    assert str(interpreter.query("count(input.y)")) == '{"expressions":[9]}'  # not 4


def test_set_input_term_reads_unescaped_text_as_characters() -> None:
    # What the fast path relies on: no backslash, every character as it is.
    interpreter = regopy.Interpreter()
    interpreter.set_input_term(
        json.dumps({"y": "caf\u00e9 \U0001f600", "n": 12, "b": [True, None]}, ensure_ascii=False)
    )
    assert str(interpreter.query("count(input.y)")) == '{"expressions":[6]}'
    assert str(interpreter.query('input.y == "caf\u00e9 \U0001f600"')) == '{"expressions":[true]}'
    assert str(interpreter.query("input.n + 1")) == '{"expressions":[13]}'
    assert str(interpreter.query("input.b[1] == null")) == '{"expressions":[true]}'
