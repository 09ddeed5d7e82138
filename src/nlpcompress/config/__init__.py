"""Typed, validated run configuration (the schemas of every Hydra group)."""

from nlpcompress.config.errors import ConfigError
from nlpcompress.config.typed import build_section, register_section, section_schema

__all__ = ["ConfigError", "build_section", "register_section", "section_schema"]
