import pandas as pd
import pytest
from fake_prometheus import POD, FakePrometheus, vector
from helpers import EMBEDDED_DATA, local_http_server

from greenkfp.components._shared import kepler


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


@pytest.fixture
def prometheus(monkeypatch):
    """A fake Prometheus on 127.0.0.1 (tests/fake_prometheus.py) and KFP_POD_NAME: its URL."""
    FakePrometheus.answer, FakePrometheus.status, FakePrometheus.queries = vector(7200.0), 200, []
    monkeypatch.setenv(kepler.POD_NAME_ENV_VAR, POD)
    with local_http_server(FakePrometheus) as url:
        yield url
