"""The image a FROM names: found in the store, or pulled as docker's build
does: when it is missing (the default), and always with `build --pull` (a
newer image under the same tag then becomes the base). The pull's lines go
to the FROM step's output; the stage's cache key is the resolved image's id,
so a newer base misses the cache."""
from collections.abc import Callable

from ..errors import DockyardError, InvalidReference, NotFound
from ..images.catalog import ImageRecord, resolve
from ..store import Store


def from_image(store: Store, base: str, *, pull: bool, platform: str | None,
               output: Callable[[str], None]) -> ImageRecord:
    """The stage's base image. NotFound when it is not in the store and cannot
    be pulled; another DockyardError (the registry's) when a pull fails."""
    if not pull:
        try:
            return resolve(store, base)
        except NotFound as e:
            missing = e
    else:
        missing = None
    try:
        from .. import reference
        reference.parse_docker_ref(base)
    except InvalidReference:
        if missing is not None:
            raise missing from None   # an id prefix, not a name: nothing to pull
        return resolve(store, base)
    from ..images.pull import pull as pull_image

    def show(event) -> None:
        if event.status != "Downloading":   # byte counts are for progress bars
            output(str(event))
    if missing is not None:
        output(f"Unable to find image '{base}' locally")
    try:
        image_id = pull_image(store, base, platform=platform, progress=show)
    except DockyardError as e:
        if missing is None:
            raise
        raise NotFound(f"image not found in the store, and pulling it failed: {e}") from None
    return resolve(store, image_id)


__all__ = ["from_image"]
