"""Shape templates load from TOML, and every mistake names the template and the rule it breaks."""

from __future__ import annotations

import pytest

from midstream.core.config import EXAMPLE_SHAPES
from midstream.core.shapes_file import ShapesFileError, load_shapes, parse_shapes


def test_bundled_shapes_load():
    shapes = load_shapes(EXAMPLE_SHAPES)
    assert [s.name for s in shapes] == ["hiccup_then_burst"]
    assert shapes[0].series == "itl" and len(shapes[0].query) == 8


def test_optional_keys_are_read():
    (shape,) = parse_shapes(
        '[[shape]]\nname="dip"\nseries="logprob"\nquery=[0, -3, 0]\nthreshold=1.5\n'
        'window=2\nznorm=true\nseverity="warning"\n')
    assert (shape.window, shape.znorm, shape.severity) == (2, True, "warning")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('name="a"\nseries="itl"\nquery=[1,2]\nthreshold=1\ncolour="red"', "unknown keys"),
        ('name="a"\nseries="itl"\nquery=[1,2]', "'threshold' is required"),
        ('name="a"\nseries="tps"\nquery=[1,2]\nthreshold=1', "'series' must be one of"),
        ('name="a"\nseries="itl"\nquery=[1]\nthreshold=1', "at least 2 finite numbers"),
        ('name="a"\nseries="itl"\nquery=[1,"x"]\nthreshold=1', "at least 2 finite numbers"),
        ('name="a"\nseries="itl"\nquery=[1,nan]\nthreshold=1', "at least 2 finite numbers"),
        ('name="a"\nseries="itl"\nquery=[1,2]\nthreshold=0', "positive number"),
        ('name="a"\nseries="itl"\nquery=[1,2]\nthreshold=1\nwindow=-1', "non-negative"),
        ('name="a"\nseries="itl"\nquery=[1,2]\nthreshold=1\nznorm=1', "true or false"),
        ('name="a"\nseries="itl"\nquery=[1,2]\nthreshold=1\nseverity="loud"', "'severity'"),
    ],
)
def test_invalid_templates_are_refused_with_the_reason(body, message):
    with pytest.raises(ShapesFileError, match=message) as error:
        parse_shapes("[[shape]]\n" + body)
    assert "shape #1" in str(error.value)


def test_names_are_unique_and_toml_errors_are_reported(tmp_path):
    one = '[[shape]]\nname="a"\nseries="itl"\nquery=[1,2]\nthreshold=1\n'
    with pytest.raises(ShapesFileError, match="repeated"):
        parse_shapes(one + one)
    path = tmp_path / "shapes.toml"
    path.write_text("[[shape]\n")
    with pytest.raises(ShapesFileError, match=f"{path}: not valid TOML"):
        load_shapes(path)


def test_toml_nested_too_deeply_is_a_shapes_file_error():
    with pytest.raises(ShapesFileError, match="nested too deeply"):
        parse_shapes("a = " + "[" * 100_000)
