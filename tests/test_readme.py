"""The README's Python example runs as written and says what it claims."""

import re

import scripts


def readme_example() -> str:
    """The first Python block of the README's "Python API" section."""
    text = (scripts.REPOSITORY / "README.md").read_text()
    section = text.split("\n## Python API\n", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def test_python_api_example_runs_as_written(tmp_path, monkeypatch, capsys):
    """The example explains a 512x384 micrograph with the shipped model, its checks hold, and it
    prints the size error."""
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(readme_example(), "README.md", "exec"), namespace)
    assert namespace["maps"].shape == (512, 384)
    assert namespace["batch"].shape == (2, 512, 384)
    assert namespace["row"].shape == (512, 384)
    assert namespace["column"].shape == (32, 24, 8)
    assert 50e6 < namespace["jacobian"].values.nbytes < 60e6
    printed = capsys.readouterr().out
    assert (
        "multiples of 16, not a 250x256 image; the nearest it takes: height 240 or 256" in printed
    )


def test_every_picture_the_readme_shows_is_in_the_repository():
    """Each image the README links is a file of the repository, so none shows as broken."""
    text = (scripts.REPOSITORY / "README.md").read_text()
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert pictures
    missing = [path for path in pictures if not (scripts.REPOSITORY / path).is_file()]
    assert missing == []
