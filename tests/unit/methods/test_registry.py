"""The method table: every row resolves, matches a ``conf/method`` option, and its schema is
light (no import of the implementation to validate a config)."""

from __future__ import annotations

import pytest

from nlpcompress.config.errors import ConfigError
from nlpcompress.config.schema import MethodConfig
from nlpcompress.methods.registry import METHODS, known_methods, method_spec
from tests.conftest import CONF


def test_every_conf_method_has_a_row_and_every_row_a_conf_method():
    assert sorted(p.stem for p in (CONF / "method").glob("*.yaml")) == known_methods()


@pytest.mark.parametrize("name", sorted(METHODS))
def test_each_row_names_an_implementation_and_checks_that_exist(name):
    spec = method_spec(name)
    assert callable(spec.run)
    if spec.validate_ref is not None:
        module, _, attr = spec.validate_ref.partition(":")
        assert callable(getattr(__import__(module, fromlist=[attr]), attr))
    assert issubclass(spec.config_cls, MethodConfig)
    if spec.config_cls is not MethodConfig:
        assert spec.config_cls().name == name


def test_an_unknown_method_names_the_known_ones():
    with pytest.raises(ConfigError, match=r"method\.name='nope'; allowed: one of baseline, "):
        method_spec("nope")
