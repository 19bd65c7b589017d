"""greenkfp submit, without a cluster: a fake KFP API server and Vertex requests built offline.

The fake server answers the KFP v2beta1 endpoints that kfp.Client 2.13 calls, so these
tests check our side of the contract (what we send, and when we send nothing), not a
real backend.
"""

import email.parser
import email.policy
import json
import socket
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml
from helpers import submit_cli as cli

from greenkfp.pipelines import ALL_PIPELINES
from greenkfp.pipelines.runners.package import (
    check_parameters,
    collect_parameters,
    component_images,
    default_pipeline,
    load_package,
    parameter_problems,
)
from greenkfp.pipelines.runners.vertex_target import (
    VertexTarget,
    build_vertex_job,
    submit_to_vertex,
)
from greenkfp.pipelines.tools.compiler import compile_to_file

PIPELINES = sorted(ALL_PIPELINES)
PROJECT, REGION, ROOT = "greenkfp-test", "europe-west4", "gs://greenkfp-test-bucket/root"
API = "/apis/v2beta1"


# --- shared fixtures -------------------------------------------------------------------


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """Every pipeline of ALL_PIPELINES compiled once for the module: name -> YAML path."""
    out = tmp_path_factory.mktemp("compiled")
    return {name: compile_to_file(ALL_PIPELINES[name], out / f"{name}.yaml") for name in PIPELINES}


def package_of(compiled, name):
    return load_package(compiled[name])


def sample_values(package):
    """A value for every root parameter, distinct per parameter, of the declared type."""
    values = {}
    for i, (name, definition) in enumerate(sorted(package.parameters.items())):
        kind = definition.get("parameterType")
        values[name] = {
            "NUMBER_INTEGER": 100 + i,
            "NUMBER_DOUBLE": 0.5 + i,
            "STRING": f"gs://greenkfp-test-bucket/{name}",
            "BOOLEAN": i % 2 == 0,
            "LIST": [f"{name}-a", f"{name}-b"],
            "STRUCT": {name: [1, 2]},
        }[kind]
    return values


#: Values a greenkfp pipeline accepts (its up-front check refuses sample_values' for these),
#: each unlike the parameter's default.
ACCEPTED_VALUES = {
    "delimiter": ";",
    "encoding": "latin-1",
    "mixed_numeric": "missing",
    "eval_fraction": 0.25,
    "fail_on": "drift",
    "dropout": 0.3,
    "learning_rate": 0.01,
    "hidden_units": [16, 8],
    "compression_methods": ["prune", "int8"],
    "sparsity": 0.6,
    "max_accuracy_drop": 0.02,
    "max_auc_drop": 0.03,
    "fairness_thresholds": [0.4, 0.6],
    "feature_buckets": {"sensitive_features-b": [1.0, 2.0]},
    "model_name": "ci-model",
    "policy": "min_auc: 0.6",
    "retrain_policy": "drift",
    "psi_threshold": 0.3,
    "ks_p_value": 0.05,
    "ks_min_statistic": 0.2,
    "numeric_drift_threshold": 0.15,
    "categorical_drift_threshold": 0.2,
    "max_quality_drop": 0.05,
    "validation_fraction": 0.15,
}


def submittable_values(package):
    """sample_values, with values the pipeline accepts where its components check them."""
    values = sample_values(package)
    values.update({k: v for k, v in ACCEPTED_VALUES.items() if k in values})
    return values


def required_values(package):
    """Values for the required parameters only (what a user must give)."""
    every = sample_values(package)
    return {
        name: every[name]
        for name, d in package.parameters.items()
        if "defaultValue" not in d and not d.get("isOptional")
    }


def as_assignments(values):
    """--param KEY=VALUE arguments for values (JSON is YAML, strings verbatim)."""
    args = []
    for name, value in values.items():
        text = value if isinstance(value, str) else json.dumps(value)
        args += ["--param", f"{name}={text}"]
    return args


@pytest.fixture
def no_network(monkeypatch):
    """Every Python socket connect raises (and is recorded) for the test's duration."""
    attempts = []

    def refuse(sock, address, *args):
        attempts.append(address)
        raise OSError(f"network disabled in this test (connect to {address})")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    yield attempts
    assert attempts == [], f"tried to connect: {attempts}"


@pytest.fixture
def clean_kfp_env(monkeypatch, tmp_path):
    """No KFP settings from the environment or ~/.config/kfp leak into a test."""
    from kfp.client import client as kfp_client

    for var in (
        "KF_PIPELINES_ENDPOINT",
        "KF_PIPELINES_UI_ENDPOINT",
        "KF_PIPELINES_DEFAULT_EXPERIMENT_NAME",
        "KF_PIPELINES_OVERRIDE_EXPERIMENT_NAME",
        "KF_PIPELINES_IAP_OAUTH2_CLIENT_ID",
    ):
        monkeypatch.delenv(var, raising=False)
    context = tmp_path / "kfp-context.json"
    monkeypatch.setattr(kfp_client.Client, "_LOCAL_KFP_CONTEXT", str(context))
    yield
    assert not context.exists(), "kfp.Client wrote a context file (multi-user namespace)"


# --- a fake KFP API server -------------------------------------------------------------


class FakeKfp:
    """Answers kfp.Client 2.13's v2beta1 calls on 127.0.0.1 and records every request."""

    def __init__(self):
        self.requests = []
        self.experiments, self.pipelines, self.versions, self.runs = [], [], [], []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                fake.handle(self)

            def do_POST(self):
                fake.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def paths(self):
        return [(r["method"], r["path"]) for r in self.requests]

    def handle(self, http):
        url = urllib.parse.urlsplit(http.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        length = int(http.headers.get("Content-Length") or 0)
        body = http.rfile.read(length) if length else b""
        record = {
            "method": http.command,
            "path": url.path,
            "query": query,
            "headers": {k.lower(): v for k, v in http.headers.items()},
            "body": body,
        }
        with self.lock:
            self.requests.append(record)
            status, answer = self.answer(record)
        data = json.dumps(answer).encode()
        http.send_response(status)
        http.send_header("Content-Type", "application/json")
        http.send_header("Content-Length", str(len(data)))
        http.end_headers()
        http.wfile.write(data)

    @staticmethod
    def named(items, query):
        """Applies an EQUALS display_name filter as the KFP API does."""
        if "filter" not in query:
            return items
        wanted = {p["key"]: p.get("stringValue") for p in json.loads(query["filter"])["predicates"]}
        return [i for i in items if i["display_name"] == wanted.get("display_name")]

    def answer(self, r):
        method, path, query = r["method"], r["path"], r["query"]
        if (method, path) == ("GET", f"{API}/healthz"):
            return 200, {"multi_user": False}
        if (method, path) == ("GET", f"{API}/experiments"):
            return 200, {"experiments": self.named(self.experiments, query)}
        if (method, path) == ("POST", f"{API}/experiments"):
            experiment = {**json.loads(r["body"]), "experiment_id": f"exp-{len(self.experiments)}"}
            self.experiments.append(experiment)
            return 200, experiment
        if (method, path) == ("GET", f"{API}/pipelines"):
            return 200, {"pipelines": self.named(self.pipelines, query)}
        if (method, path) == ("POST", f"{API}/pipelines/upload"):
            r["file"] = multipart_file(r)
            pipeline = {"pipeline_id": f"pl-{len(self.pipelines)}", "display_name": query["name"]}
            self.pipelines.append(pipeline)
            self.add_version(pipeline["pipeline_id"], query["name"])
            return 200, pipeline
        if (method, path) == ("POST", f"{API}/pipelines/upload_version"):
            r["file"] = multipart_file(r)
            return 200, self.add_version(query["pipelineid"], query["name"])
        if method == "GET" and path.startswith(f"{API}/pipelines/") and path.endswith("/versions"):
            pipeline_id = path.split("/")[-2]
            versions = [v for v in self.versions if v["pipeline_id"] == pipeline_id]
            return 200, {"pipeline_versions": versions[::-1], "total_size": len(versions)}
        if (method, path) == ("POST", f"{API}/runs"):
            run = {**json.loads(r["body"]), "run_id": f"run-{len(self.runs)}"}
            self.runs.append(run)
            return 200, run
        return 404, {"error": f"fake KFP server does not know {method} {path}", "code": 5}

    def add_version(self, pipeline_id, name):
        version = {
            "pipeline_id": pipeline_id,
            "pipeline_version_id": f"pv-{len(self.versions)}",
            "display_name": name,
        }
        self.versions.append(version)
        return version


def multipart_file(record):
    """The bytes of the ``uploadfile`` part of a multipart/form-data request."""
    head = f"Content-Type: {record['headers']['content-type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + record["body"])
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "uploadfile":
            return part.get_payload(decode=True)
    raise AssertionError("no uploadfile part in the upload request")


@pytest.fixture
def kfp_server(clean_kfp_env):
    with FakeKfp() as server:
        yield server


def closed_port_host():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --- parameters ------------------------------------------------------------------------


def test_cli_values_follow_the_declared_type(compiled):
    package = package_of(compiled, "training_pipeline")
    values = collect_parameters(
        package,
        assignments=[
            "epochs=5",
            "learning_rate=1e-3",
            "positive_label=1",
            "trim_whitespace=false",
            "categorical_features=[job, housing]",
            "data_uri=gs://b/x.csv",
            "module_file=",
        ],
    )
    assert values == {
        "epochs": 5,
        "learning_rate": 0.001,
        "positive_label": "1",
        "trim_whitespace": False,
        "categorical_features": ["job", "housing"],
        "data_uri": "gs://b/x.csv",
        "module_file": "",
    }


def test_params_file_and_param_override(compiled, tmp_path):
    package = package_of(compiled, "training_pipeline")
    params = tmp_path / "params.yaml"
    params.write_text("data_uri: gs://b/train.csv\nlabel_column: risk\nepochs: 3\ndropout: 1e-1\n")
    values = collect_parameters(package, params, ["epochs=7"])
    assert values == {
        "data_uri": "gs://b/train.csv",
        "label_column": "risk",
        "epochs": 7,
        "dropout": 0.1,  # 1e-1 is a number, as in YAML 1.2 and JSON
    }
    as_json = tmp_path / "params.json"
    as_json.write_text(json.dumps({"dropout": 0.2, "hidden_units": [8, 4]}))
    assert collect_parameters(package, as_json) == {"dropout": 0.2, "hidden_units": [8, 4]}


def test_validation_names_every_problem(compiled):
    package = package_of(compiled, "training_pipeline")
    problems = parameter_problems(
        package,
        {"epoch": 5, "epochs": True, "dropout": 1, "learning_rate": "1e-3", "positive_label": 1},
    )
    text = "\n".join(problems)
    assert "no parameter(s) epoch; valid parameters: batch_size," in text
    assert "'epochs' expects an integer (NUMBER_INTEGER), got bool true" in text
    assert "'dropout'" not in text  # an int is fine for a double
    assert "'learning_rate' expects a number (NUMBER_DOUBLE), got str" in text
    assert "'positive_label' expects a string (STRING), got int 1 (quote it: '1')" in text
    assert "needs parameter(s) data_uri, label_column" in text
    assert parameter_problems(package, {"epochs": 2}, require_all=False) == []


# --- Vertex AI: the request, built offline ---------------------------------------------


@pytest.fixture(scope="module")
def anonymous():
    from google.auth.credentials import AnonymousCredentials

    return AnonymousCredentials()


def struct_dict(message):
    from google.protobuf import json_format

    return json_format.MessageToDict(message)


@pytest.mark.parametrize("name", PIPELINES)
def test_vertex_job_carries_spec_parameters_and_root(name, compiled, anonymous, no_network):
    from google.cloud.aiplatform.utils import ClientWithOverride

    package = package_of(compiled, name)
    values = sample_values(package)
    check_parameters(package, values)
    target = VertexTarget(
        project=PROJECT, region=REGION, pipeline_root=ROOT, run_name=f"greenkfp {name}"
    )
    job = build_vertex_job(package, values, target, credentials=anonymous)

    assert (job.project, job.location) == (PROJECT, REGION)
    assert job._parent == f"projects/{PROJECT}/locations/{REGION}"
    request = job._gca_resource._pb
    assert request.display_name == f"greenkfp {name}"
    assert struct_dict(request.pipeline_spec) == package.spec
    runtime = struct_dict(request.runtime_config)
    assert runtime["gcsOutputDirectory"] == ROOT
    assert runtime["parameterValues"] == values
    # The gapic client is only created when an API is called: no gRPC channel either
    # (gRPC's own sockets would not pass through the socket patch).
    assert all(
        isinstance(c, ClientWithOverride.WrappedClient) for c in job.api_client._clients.values()
    )


def test_vertex_caching_override_and_required_only(compiled, anonymous, no_network):
    name = default_pipeline(PIPELINES)
    package = package_of(compiled, name)
    values = required_values(package)
    target = VertexTarget(PROJECT, REGION, ROOT, enable_caching=False)
    job = build_vertex_job(package, values, target, credentials=anonymous)
    spec = struct_dict(job._gca_resource._pb.pipeline_spec)
    tasks = spec["root"]["dag"]["tasks"].values()
    assert tasks and all(t["cachingOptions"]["enableCache"] is False for t in tasks)
    assert struct_dict(job._gca_resource._pb.runtime_config)["parameterValues"] == values
    assert package.spec["root"]["dag"] != spec["root"]["dag"]  # caching is on when compiled


def test_vertex_submit_sends_the_built_job(compiled, anonymous, no_network, monkeypatch):
    from google.cloud.aiplatform import pipeline_jobs
    from google.cloud.aiplatform.compat.types import pipeline_job as gca_pipeline_job
    from google.cloud.aiplatform.utils import PipelineJobClientWithOverride

    sent, buckets = [], []

    def create_pipeline_job(self, parent, pipeline_job, pipeline_job_id, timeout=None):
        sent.append((parent, pipeline_job, pipeline_job_id))
        created = gca_pipeline_job.PipelineJob(pipeline_job)
        created.name = f"{parent}/pipelineJobs/{pipeline_job_id}"
        return created

    for _, client_class in PipelineJobClientWithOverride._version_map:
        monkeypatch.setattr(client_class, "create_pipeline_job", create_pipeline_job)
    monkeypatch.setattr(
        pipeline_jobs.gcs_utils,
        "create_gcs_bucket_for_pipeline_artifacts_if_it_does_not_exist",
        lambda **kwargs: buckets.append(kwargs["output_artifacts_gcs_dir"]),
    )
    package = package_of(compiled, "training_pipeline")
    values = required_values(package)
    target = VertexTarget(
        PROJECT, REGION, ROOT, service_account="runner@greenkfp-test.iam.gserviceaccount.com"
    )
    job = build_vertex_job(package, values, target, credentials=anonymous)
    done = submit_to_vertex(job, target)

    assert buckets == [ROOT]
    [(parent, request, job_id)] = sent
    assert parent == f"projects/{PROJECT}/locations/{REGION}" and job_id == job.job_id
    assert request.service_account == target.service_account
    assert struct_dict(request._pb.runtime_config)["parameterValues"] == values
    assert done.run_id == f"{parent}/pipelineJobs/{job_id}"
    assert done.run_url.startswith(
        f"https://console.cloud.google.com/vertex-ai/locations/{REGION}/pipelines/runs/{job_id}"
    )


def test_vertex_dry_run_cli_sends_nothing(compiled, capsys, no_network):
    package = package_of(compiled, "training_pipeline")
    status, out, err = cli(
        capsys,
        *("--package", str(compiled["training_pipeline"]), "--vertex"),
        *("--project", PROJECT, "--region", REGION, "--pipeline-root", ROOT, "--dry-run"),
        *as_assignments(required_values(package)),
    )
    assert (status, err) == (0, "")
    assert f"Vertex AI Pipelines, project {PROJECT}, region {REGION}" in out
    assert f"projects/{PROJECT}/locations/{REGION}/pipelineJobs/training-pipeline-" in out
    assert f"gcsOutputDirectory {ROOT}" in out and "nothing was sent" in out


@pytest.mark.parametrize(
    "options, message",
    [
        (["--region", REGION, "--pipeline-root", ROOT], "--vertex needs --project"),
        (["--project", PROJECT, "--pipeline-root", ROOT], "--vertex needs --region"),
        (["--project", PROJECT, "--region", REGION], "--vertex needs --pipeline-root"),
        (
            ["--project", PROJECT, "--region", REGION, "--pipeline-root", "/tmp/root"],
            "--pipeline-root must be a gs:// URI",
        ),
    ],
)
def test_vertex_bad_options_exit_2(compiled, capsys, no_network, options, message):
    package = package_of(compiled, "training_pipeline")
    status, out, err = cli(
        capsys,
        *("--package", str(compiled["training_pipeline"]), "--vertex", *options),
        *as_assignments(required_values(package)),
    )
    assert status == 2 and out == ""
    assert err.startswith(f"greenkfp submit: {message}") and len(err.splitlines()) == 1


# --- KFP: against the fake server ------------------------------------------------------


@pytest.mark.parametrize("name", PIPELINES)
def test_kfp_run_from_package(name, compiled, kfp_server, capsys):
    package = package_of(compiled, name)
    values = submittable_values(package)
    status, out, err = cli(
        capsys,
        *("--package", str(compiled[name]), "--host", kfp_server.host),
        *("--experiment", "greenkfp-ci", "--run-name", f"ci {name}"),
        *as_assignments(values),
    )
    assert (status, err) == (0, "")
    assert kfp_server.paths() == [
        ("GET", f"{API}/healthz"),
        ("GET", f"{API}/experiments"),
        ("POST", f"{API}/experiments"),
        ("POST", f"{API}/runs"),
    ]
    assert kfp_server.experiments[0]["display_name"] == "greenkfp-ci"
    [run] = kfp_server.runs
    assert run["display_name"] == f"ci {name}"
    assert run["experiment_id"] == kfp_server.experiments[0]["experiment_id"]
    assert run["pipeline_spec"] == yaml.safe_load(compiled[name].read_text())
    assert run["runtime_config"]["parameters"] == values
    assert f"run ID {run['run_id']}" in out
    assert f"{kfp_server.host}/#/runs/details/{run['run_id']}" in out


def test_kfp_default_pipeline_compiled_with_image(kfp_server, capsys):
    default = default_pipeline(PIPELINES)
    assert default == (
        "sustainable_training_pipeline"
        if "sustainable_training_pipeline" in ALL_PIPELINES
        else "training_pipeline"
    )
    image = "registry.example.com/greenkfp:ci"
    status, out, err = cli(
        capsys,
        *("--host", kfp_server.host, "--image", image, "--no-caching"),
        "--param=data_uri=gs://greenkfp-test-bucket/credit.csv",
        "--param=label_column=risk",
    )
    assert (status, err) == (0, "")
    [run] = kfp_server.runs
    spec = run["pipeline_spec"]
    assert spec["pipelineInfo"]["name"] == ALL_PIPELINES[default].name
    assert component_images(spec) == [image]
    assert all(
        not t.get("cachingOptions", {}).get("enableCache")
        for t in spec["root"]["dag"]["tasks"].values()
    )
    assert run["runtime_config"]["parameters"] == {
        "data_uri": "gs://greenkfp-test-bucket/credit.csv",
        "label_column": "risk",
    }


def test_kfp_upload_then_new_version_and_run(compiled, kfp_server, capsys):
    name = default_pipeline(PIPELINES)
    path = compiled[name]
    package = package_of(compiled, name)

    status, out, err = cli(
        capsys, "--package", str(path), "--host", kfp_server.host, "--upload", "--no-run"
    )
    assert (status, err) == (0, "")
    assert kfp_server.paths() == [
        ("GET", f"{API}/healthz"),
        ("GET", f"{API}/pipelines"),
        ("POST", f"{API}/pipelines/upload"),
        ("GET", f"{API}/pipelines/pl-0/versions"),
    ]
    upload = kfp_server.requests[2]
    assert upload["file"] == path.read_bytes()  # our compiled YAML, byte for byte
    assert upload["query"]["name"] == package.name
    assert kfp_server.runs == [] and "(new pipeline)" in out and "version ID pv-0" in out

    kfp_server.requests.clear()
    values = required_values(package)
    status, out, err = cli(
        capsys,
        *("--package", str(path), "--host", kfp_server.host, "--upload"),
        *("--version-name", "ci-2", "--run-name", "after upload"),
        *as_assignments(values),
    )
    assert (status, err) == (0, "")
    assert kfp_server.paths() == [
        ("GET", f"{API}/healthz"),
        ("GET", f"{API}/pipelines"),
        ("POST", f"{API}/pipelines/upload_version"),
        ("GET", f"{API}/experiments"),
        ("POST", f"{API}/experiments"),
        ("POST", f"{API}/runs"),
    ]
    version = kfp_server.requests[2]
    assert version["file"] == path.read_bytes()
    assert version["query"] == {
        "name": "ci-2",
        "pipelineid": "pl-0",
        "description": package.description,
    }
    [run] = kfp_server.runs
    assert run["pipeline_version_reference"] == {
        "pipeline_id": "pl-0",
        "pipeline_version_id": "pv-1",
    }
    assert "pipeline_spec" not in run  # the run uses the uploaded version
    assert run["runtime_config"]["parameters"] == values
    assert run["display_name"] == "after upload" and "(new version)" in out


def test_kfp_dry_run_sends_nothing(compiled, kfp_server, capsys):
    name = default_pipeline(PIPELINES)
    package = package_of(compiled, name)
    values = required_values(package)
    status, out, err = cli(
        capsys,
        *("--package", str(compiled[name]), "--host", kfp_server.host, "--dry-run"),
        *as_assignments(values),
    )
    assert (status, err) == (0, "")
    assert kfp_server.requests == []
    assert f"Target:     KFP host {kfp_server.host}" in out
    assert f"Pipeline:   {package.name}" in out
    for image in package.images:
        assert image in out
    for parameter, value in values.items():
        assert f"  * {parameter} = {json.dumps(value)}" in out
    for parameter in set(package.parameters) - set(values):
        assert f"    {parameter} = " in out
    assert "nothing was sent" in out


@pytest.mark.parametrize(
    "params, message",
    [
        (["--param", "no_such_parameter=1"], "has no parameter(s) no_such_parameter; valid"),
        (["--param", "epochs=five"], "'epochs' expects an integer (NUMBER_INTEGER), got str"),
        (["--param", "epochs=2.5"], "'epochs' expects an integer (NUMBER_INTEGER), got float"),
        (["--param", "trim_whitespace=1"], "'trim_whitespace' expects a boolean"),
        (["--param", "hidden_units=8"], "'hidden_units' expects a list (LIST), got int 8"),
        (["--param", "epochs"], "--param 'epochs' is not KEY=VALUE"),
    ],
)
def test_kfp_bad_parameters_exit_2_and_send_nothing(compiled, kfp_server, capsys, params, message):
    package = package_of(compiled, "training_pipeline")
    status, out, err = cli(
        capsys,
        *("--package", str(compiled["training_pipeline"]), "--host", kfp_server.host),
        *as_assignments(required_values(package)),
        *params,
    )
    assert status == 2 and out == ""
    assert message in err and err.startswith("greenkfp submit: ")
    assert kfp_server.requests == []


def test_kfp_missing_required_parameter_exits_2(compiled, kfp_server, capsys):
    status, _, err = cli(
        capsys, "--package", str(compiled["training_pipeline"]), "--host", kfp_server.host
    )
    assert status == 2 and "needs parameter(s) data_uri, label_column" in err
    assert kfp_server.requests == []


def test_kfp_unreachable_host_exits_1_with_one_line(compiled, clean_kfp_env, capsys):
    host = closed_port_host()
    package = package_of(compiled, "training_pipeline")
    status, out, err = cli(
        capsys,
        *("--package", str(compiled["training_pipeline"]), "--host", host),
        *as_assignments(required_values(package)),
    )
    assert status == 1 and out == ""
    assert err.startswith(f"greenkfp submit: cannot reach KFP host {host}: Connection refused")
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_kfp_refused_request_is_one_line(compiled, kfp_server, capsys, monkeypatch):
    """A host that answers with an error (here: no runs endpoint) -> exit 1, one line."""
    original = kfp_server.answer

    def no_runs(record):
        if record["path"] == f"{API}/runs":
            return 403, {"error": "runs are not allowed here", "message": "forbidden by policy"}
        return original(record)

    monkeypatch.setattr(kfp_server, "answer", no_runs)
    package = package_of(compiled, "training_pipeline")
    status, out, err = cli(
        capsys,
        *("--package", str(compiled["training_pipeline"]), "--host", kfp_server.host),
        *as_assignments(required_values(package)),
    )
    assert status == 1 and out == ""
    assert err == (
        f"greenkfp submit: sending to KFP host {kfp_server.host} failed: "
        "HTTP 403 Forbidden: forbidden by policy\n"
    )


@pytest.mark.parametrize(
    "options, message",
    [
        (["--upload", "--no-caching"], "cannot be applied to a run of an uploaded pipeline"),
        (["--no-run"], "--no-run and --version-name need --upload"),
        (["--project", PROJECT], "--project needs --vertex"),
        (["--image", "x:1"], "--image applies when compiling --pipeline"),
    ],
)
def test_kfp_bad_options_exit_2(compiled, kfp_server, capsys, options, message):
    package = package_of(compiled, "training_pipeline")
    status, _, err = cli(
        capsys,
        *("--package", str(compiled["training_pipeline"]), "--host", kfp_server.host, *options),
        *as_assignments(required_values(package)),
    )
    assert status == 2 and message in err
    assert kfp_server.requests == []


def test_bad_package_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("just: a mapping\n")
    status, _, err = cli(capsys, "--package", str(bad), "--dry-run")
    assert status == 2 and "is not a compiled KFP pipeline" in err
    status, _, err = cli(capsys, "--package", str(tmp_path / "missing.yaml"), "--dry-run")
    assert status == 2 and "not found" in err


def test_unknown_pipeline_exits_2(capsys):
    status, _, err = cli(capsys, "--pipeline", "no_such_pipeline", "--dry-run")
    assert status == 2 and "unknown pipeline 'no_such_pipeline'; choose from" in err


def test_kfp_header_bug_is_named(compiled, tmp_path, capsys):
    """kfp 2.13 writes a multi-line string default into the header comment unescaped."""
    text = compiled["training_pipeline"].read_text()
    first_input = next(line for line in text.splitlines() if line.startswith("#    "))
    broken = tmp_path / "broken.yaml"
    broken.write_text(text.replace(first_input, "#    policy: str [Default: 'a: 1\nb: 2']", 1))
    status, _, err = cli(capsys, "--package", str(broken), "--dry-run")
    assert status == 2 and "'# Inputs:' header comment unescaped" in err


def test_kfp_namespace_token_root_and_service_account(compiled, kfp_server, capsys):
    package = package_of(compiled, "training_pipeline")
    status, _, err = cli(
        capsys,
        *("--package", str(compiled["training_pipeline"]), "--host", kfp_server.host),
        *("--namespace", "team-a", "--existing-token", "t0ken", "--enable-caching"),
        *("--pipeline-root", "minio://mlpipeline/v2/artifacts", "--service-account", "runner"),
        *as_assignments(required_values(package)),
    )
    assert (status, err) == (0, "")
    # With a namespace kfp.Client skips the health check; every call carries the token.
    assert [p for _, p in kfp_server.paths()] == [f"{API}/experiments"] * 2 + [f"{API}/runs"]
    assert {r["headers"].get("authorization") for r in kfp_server.requests} == {"Bearer t0ken"}
    assert kfp_server.requests[0]["query"]["namespace"] == "team-a"
    assert kfp_server.experiments[0]["namespace"] == "team-a"
    [run] = kfp_server.runs
    assert run["runtime_config"]["pipeline_root"] == "minio://mlpipeline/v2/artifacts"
    assert run["service_account"] == "runner"
    tasks = run["pipeline_spec"]["root"]["dag"]["tasks"].values()
    assert all(t["cachingOptions"]["enableCache"] is True for t in tasks)
