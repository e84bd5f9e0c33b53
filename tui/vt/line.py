"""A row of cells: parallel lists of characters and style ids (screen.py)."""


class Line:
    __slots__ = ("chars", "styles", "wrapped")

    def __init__(self, cols: int, style: int = 0):
        self.chars = [" "] * cols
        self.styles = [style] * cols
        self.wrapped = False   # the text continues on the next line (autowrap)

    @property
    def text(self) -> str:
        return "".join(self.chars)

    def __repr__(self) -> str:
        return f"Line({self.text!r})"
