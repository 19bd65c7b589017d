import pandas as pd
import pytest
from helpers import EMBEDDED_DATA


@pytest.fixture(scope="session")
def german_credit() -> pd.DataFrame:
    return pd.read_csv(EMBEDDED_DATA)


@pytest.fixture
def write_csv(tmp_path):
    """Writes text or a DataFrame to a CSV file under tmp_path and returns its path."""

    def write(content, name="data.csv") -> str:
        path = tmp_path / name
        if isinstance(content, pd.DataFrame):
            content.to_csv(path, index=False)
        else:
            path.write_text(content)
        return str(path)

    return write
