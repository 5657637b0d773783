"""The README stays honest: every stack parameter is documented, and CI runs the command it gives."""

from __future__ import annotations

from sandbox.template import ROOT, load_template

README = (ROOT / "README.md").read_text()


def test_every_stack_parameter_has_a_row_in_the_readme() -> None:
    rows = {line.split("|")[1].strip() for line in README.splitlines() if line.startswith("| `")}
    documented = " ".join(rows)
    missing = [name for name in load_template()["Parameters"] if f"`{name}`" not in documented]
    assert missing == []


def test_the_readme_gives_the_two_commands_and_ci_runs_the_test_one() -> None:
    first_screen = README.split("## The flows")[0]
    assert "make demo" in first_screen
    assert "make test" in first_screen
    assert "make test" in (ROOT / ".ci" / "run").read_text()
