"""What a build reports (BuildEvent), how a failing RUN ends it (BuildError),
and the state of the stage being built, shared by the builder's parts."""
from dataclasses import dataclass, field

from ..errors import DockyardError


class BuildError(DockyardError):
    """A RUN step failed: exit_code is the step's."""

    def __init__(self, msg: str, exit_code: int):
        super().__init__(msg)
        self.exit_code = exit_code


@dataclass
class BuildEvent:
    step: int                 # #N
    kind: str                 # start | cached | output | done | error
    name: str = ""            # "[build 2/5] RUN make"
    text: str = ""            # an output line (kind output) or the error
    elapsed: float = 0.0


@dataclass
class StageState:
    name: str
    index: int
    image_id: str | None      # the image of the last step (None: scratch, nothing yet)
    config: dict              # the whole image config document
    key: str
    args: dict = field(default_factory=dict)   # ARGs declared in the stage: name -> value
    cmd_set: bool = False

