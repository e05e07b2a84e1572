"""The test bed builds its launcher from what the sources say, not from file times: a
machine that kept `target/` (and ~/.m2) from older sources compiles the new ones."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.services import testbed


def greeter(says: str) -> str:
    """A Java program that prints what it says."""
    return ("public final class Greeter { public static void main(String[] a) { "
            f'System.out.print({says}); }} }}\n')


@pytest.fixture
def sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A source folder of its own and a target folder that already holds the jars'
    classpath (as on a machine that built before)."""
    source_dir, target = tmp_path / "src", tmp_path / "target"
    source_dir.mkdir()
    target.mkdir()
    for kept in testbed.TARGET.glob("classpath-*.txt"):
        shutil.copy2(kept, target / kept.name)
    monkeypatch.setattr(testbed, "SOURCES", source_dir)
    monkeypatch.setattr(testbed, "TARGET", target)
    return source_dir


def greeting(classpath: str) -> str:
    return subprocess.run(["java", "-cp", classpath, "Greeter"], check=True,
                          capture_output=True, text=True).stdout


def test_a_changed_source_is_compiled_again_even_when_it_looks_older(sources: Path) -> None:
    source = sources / "Greeter.java"
    source.write_text(greeter('"old"'))
    first = testbed.build()
    compiled_at = max(p.stat().st_mtime for p in testbed.TARGET.glob("classes-*/*.class"))

    source.write_text(greeter('"new"'))
    os.utime(source, (compiled_at - 3600, compiled_at - 3600))  # a checkout's or cache's time
    second = testbed.build()

    assert (greeting(first), greeting(second)) == ("old", "new")


def test_unchanged_sources_reuse_what_was_compiled(sources: Path) -> None:
    (sources / "Greeter.java").write_text(greeter('"same"'))
    first = testbed.build()
    os.utime(sources / "Greeter.java")  # touched, not changed

    assert testbed.build() == first
    assert len(list(testbed.TARGET.glob("classes-*"))) == 1


def test_a_new_source_file_is_compiled_with_the_others(sources: Path) -> None:
    (sources / "Greeter.java").write_text(greeter("Words.HELLO"))
    (sources / "Words.java").write_text('final class Words { static final String HELLO = "hi"; }\n')

    assert greeting(testbed.build()) == "hi"
