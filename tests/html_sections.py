"""Reads an HTML report back: per h2 section, its text and its tables."""

from html.parser import HTMLParser


class _Sections(HTMLParser):
    """Collects, per h2 section, its text and its tables (rows of cell texts)."""

    def __init__(self):
        super().__init__()
        self.sections: dict[str, dict] = {}
        self.current = None
        self.in_h2 = False
        self.cell = None
        self.row = None
        self.tiles: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "h2":
            self.in_h2, self.current = True, ""
        elif tag == "table" and self.current is not None:
            self.sections[self.current]["tables"].append([])
        elif tag == "tr":
            self.row = []
        elif tag in ("td", "th"):
            self.cell = ""

    def handle_endtag(self, tag):
        if tag == "h2":
            self.in_h2 = False
            self.sections[self.current] = {"text": "", "tables": []}
        elif tag in ("td", "th") and self.row is not None:
            self.row.append(self.cell)
            self.cell = None
        elif tag == "tr" and self.current in self.sections:
            self.sections[self.current]["tables"][-1].append(self.row)
            self.row = None

    def handle_data(self, data):
        if self.in_h2:
            self.current += data
        elif self.current in self.sections:
            self.sections[self.current]["text"] += data + " "
            if self.cell is not None:
                self.cell += data


def parse(page: str) -> dict[str, dict]:
    parser = _Sections()
    parser.feed(page)
    return parser.sections


def num(text: str) -> float:
    return float(text.replace(",", ""))


def rows_by_first(table):
    return {row[0]: row[1:] for row in table[1:]}
