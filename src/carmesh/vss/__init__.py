"""The COVESA VSS catalog: nodes, datatypes, patterns and value validation (pure, no I/O
beyond reading catalog files)."""

from carmesh.vss.catalog import DEFAULT_RELEASE, RELEASES, Catalog, release_file
from carmesh.vss.glob import compile_pattern, matches
from carmesh.vss.model import ChangeType, DataType, Node, NodeType
from carmesh.vss.values import parse_text, validate

__all__ = [
    "DEFAULT_RELEASE",
    "RELEASES",
    "Catalog",
    "ChangeType",
    "DataType",
    "Node",
    "NodeType",
    "compile_pattern",
    "matches",
    "parse_text",
    "release_file",
    "validate",
]
