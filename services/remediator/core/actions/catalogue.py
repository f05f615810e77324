"""The reviewed script catalogue: the only scripts ``optimize_performance`` (and the local
executor) may run, and the allow lists of the other actions' parameters (``cleanable_paths``
for ``cleanup_disk``, ``restartable_units`` for ``restart_service``). All of it is changed by
reviewing the catalogue file, never by a rule or a request."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from services.remediator.core.actions import cleanable_paths, restartable_units
from services.remediator.core.risk import Risk
from services.remediator.core.yaml_source import problems_from, read_yaml
from services.remediator.errors import RulesFileError

SCRIPT_NAME = re.compile(r"^[a-z0-9][a-z0-9\-]{0,63}\Z")
CleanableRoot = Annotated[str, AfterValidator(cleanable_paths.check_root)]
UnitGlob = Annotated[str, AfterValidator(restartable_units.check_glob)]


class CatalogueScript(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = Field(min_length=1)
    commands: list[str] = Field(min_length=1, max_length=100)
    risk: Risk = Risk.MEDIUM
    timeout_s: int = Field(300, ge=5, le=3600)

    @field_validator("commands")
    @classmethod
    def _no_blank(cls, value: list[str]) -> list[str]:
        if any(not c.strip() for c in value):
            raise ValueError("commands must not be blank")
        return value


class ScriptCatalogue(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    scripts: dict[str, CatalogueScript] = Field(default_factory=dict)
    # Directories cleanup_disk may clean, at or under (absent: the defaults).
    cleanable_paths: tuple[CleanableRoot, ...] | None = Field(None, max_length=50)
    # Units restart_service may restart, as globs (absent: any .service unit outside the floor).
    restartable_units: tuple[UnitGlob, ...] | None = Field(None, max_length=100)

    @property
    def cleanable_roots(self) -> tuple[str, ...]:
        if self.cleanable_paths is None:
            return cleanable_paths.DEFAULT_ROOTS
        return self.cleanable_paths

    @field_validator("scripts")
    @classmethod
    def _names(cls, value: dict[str, CatalogueScript]) -> dict[str, CatalogueScript]:
        bad = [name for name in value if not SCRIPT_NAME.match(name)]
        if bad:
            raise ValueError(f"script names are lower case letters, digits and -: {bad}")
        return value


def load_catalogue(path: Path) -> ScriptCatalogue:
    document = read_yaml(path)
    data, lines = document.data, document.lines
    try:
        return ScriptCatalogue.model_validate(data if data is not None else {})
    except ValidationError as exc:
        raise RulesFileError(path, problems_from(exc, lines)) from exc
