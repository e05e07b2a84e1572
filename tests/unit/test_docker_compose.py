"""What docker-compose.yml and the Dockerfile promise, checked by reading them.

Docker does not run where the unit tests run, so these tests cannot start the
stack. They pin the wiring that would otherwise only break at `docker compose up`:
server images and modes, the processes and their subcommands, environment,
start order, health checks and published ports.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from travelbuddy.integration.topics import TOPICS as SERVICE_TOPICS

ROOT = Path(__file__).resolve().parents[2]

SERVERS = ("mongodb", "kafka")
TOPIC_SETUP = "kafka-topics"

# The subcommands of the `travelbuddy` CLI (cli.py), each a separate process on
# the real stack; compose runs each as a service of the same name.
CLI_SUBCOMMANDS = ("api", "projector", "relay", "inbound", "partners")

# The service's topics, as the code declares them. Auto-creation is off, so compose must
# create every one of them.
TOPICS = tuple(spec.name for spec in SERVICE_TOPICS)
COMPACTED_TOPICS = tuple(spec.name for spec in SERVICE_TOPICS if spec.compacted)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    defined: dict[str, dict[str, Any]] = compose["services"]
    return defined


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, arguments = line.partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def instruction_values(dockerfile: list[tuple[str, str]], keyword: str) -> list[str]:
    return [arguments for instruction, arguments in dockerfile if instruction == keyword]


def exec_form(arguments: str) -> list[str]:
    """ENTRYPOINT/CMD in exec (JSON) form; shell form would wrap them in `sh -c`."""
    value = json.loads(arguments)
    assert isinstance(value, list), arguments
    return value


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {
        name: str(value).lower() if isinstance(value, bool) else str(value)
        for name, value in env.items()
    }


def command(service: dict[str, Any]) -> list[str]:
    value = service.get("command", [])
    return shlex.split(value) if isinstance(value, str) else [str(part) for part in value]


def dependency_conditions(service: dict[str, Any]) -> dict[str, str]:
    depends_on = service.get("depends_on", {})
    if isinstance(depends_on, list):
        return dict.fromkeys(depends_on, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in depends_on.items()}


def published_container_ports(service: dict[str, Any]) -> set[int]:
    ports = set()
    for port in service.get("ports", []):
        if isinstance(port, dict):
            ports.add(int(port["target"]))
        else:
            ports.add(int(str(port).rsplit(":", 1)[-1].split("/")[0]))
    return ports


def healthcheck_test(service: dict[str, Any]) -> list[str]:
    test = service.get("healthcheck", {}).get("test")
    assert test, "no health check"
    if isinstance(test, str):
        return ["CMD-SHELL", test]
    assert test[0] in ("CMD", "CMD-SHELL"), test
    return [str(part) for part in test]


def test_compose_defines_both_servers_and_a_service_per_cli_subcommand(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    assert "version" not in compose  # obsolete in the compose spec
    assert set(services) >= {*SERVERS, TOPIC_SETUP, *CLI_SUBCOMMANDS}


def test_mongodb_is_a_one_node_replica_set_that_its_health_check_initiates(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    mongodb = services["mongodb"]
    assert re.fullmatch(r"mongo:[78](\.\d+)*", mongodb["image"])
    mongod = command(mongodb)
    assert mongod[mongod.index("--replSet") + 1] == "rs0"
    assert "--bind_ip_all" in mongod

    check = " ".join(healthcheck_test(mongodb)[1:])
    assert "mongosh" in check
    assert "rs.initiate(" in check
    assert "_id: 'rs0'" in check
    # The member must be named as the other containers reach it, or every
    # client following the replica set's host list looks in the wrong place.
    assert "host: 'mongodb:27017'" in check
    assert "isWritablePrimary" in check  # healthy only once it takes writes

    volume = next(v for v in mongodb["volumes"] if str(v).endswith(":/data/db"))
    assert volume.split(":")[0] in compose["volumes"]  # named, survives `down`
    assert 27017 in published_container_ports(mongodb)


def test_kafka_is_a_single_kraft_node_that_creates_no_topics_by_itself(
    services: dict[str, dict[str, Any]],
) -> None:
    kafka = services["kafka"]
    assert re.fullmatch(r"apache/kafka:4(\.\d+)*", kafka["image"])
    env = environment(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert {"PLAINTEXT://:9092", "CONTROLLER://:9093"} <= set(env["KAFKA_LISTENERS"].split(","))
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] == "CONTROLLER"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "1"

    assert healthcheck_test(kafka)[1:] == [
        "/opt/kafka/bin/kafka-broker-api-versions.sh",
        "--bootstrap-server",
        "localhost:9092",
    ]
    assert 9092 in published_container_ports(kafka)


def test_the_design_topics_are_created_before_any_process_starts(
    services: dict[str, dict[str, Any]],
) -> None:
    setup = services[TOPIC_SETUP]
    assert dependency_conditions(setup) == {"kafka": "service_healthy"}
    script = " ".join(str(part) for part in [*setup.get("entrypoint", []), *command(setup)])
    assert "kafka-topics.sh --bootstrap-server kafka:9092" in script
    assert "--create --if-not-exists" in script  # reruns of `up` must succeed
    for topic in TOPICS:
        assert re.search(rf"--topic {re.escape(topic)}(\s|$)", script), topic
    for topic in COMPACTED_TOPICS:
        line = next(line for line in script.splitlines() if f"--topic {topic}" in line)
        assert "--config cleanup.policy=compact" in line

    for subcommand in CLI_SUBCOMMANDS:
        conditions = dependency_conditions(services[subcommand])
        assert conditions[TOPIC_SETUP] == "service_completed_successfully", subcommand


@pytest.mark.parametrize("name", CLI_SUBCOMMANDS)
def test_each_process_runs_its_subcommand_of_the_travelbuddy_image(
    name: str, services: dict[str, dict[str, Any]], dockerfile: list[tuple[str, str]]
) -> None:
    service = services[name]
    assert service["build"] in (".", {"context": "."})
    assert "entrypoint" not in service  # the image's `travelbuddy` entrypoint runs
    (entrypoint,) = instruction_values(dockerfile, "ENTRYPOINT")
    argv = exec_form(entrypoint) + command(service)
    assert argv == ["travelbuddy", name]
    assert service["restart"] == "unless-stopped"


@pytest.mark.parametrize("name", CLI_SUBCOMMANDS)
def test_each_process_uses_the_compose_servers_once_they_are_healthy(
    name: str, services: dict[str, dict[str, Any]]
) -> None:
    env = environment(services[name])
    mongodb_url = urlsplit(env["TRAVELBUDDY_MONGODB_URL"])
    assert mongodb_url.scheme == "mongodb"
    assert mongodb_url.netloc == "mongodb:27017"
    assert parse_qs(mongodb_url.query)["replicaSet"] == ["rs0"]  # change streams need it
    assert env["TRAVELBUDDY_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"

    conditions = dependency_conditions(services[name])
    assert conditions["mongodb"] == "service_healthy"
    assert conditions["kafka"] == "service_healthy"


def test_api_is_published_on_8000_and_healthy_only_when_ready(
    services: dict[str, dict[str, Any]],
) -> None:
    api = services["api"]
    assert 8000 in published_container_ports(api)
    check = healthcheck_test(api)
    assert check[:3] == ["CMD", "python", "-c"]  # python:3.11-slim has no curl or wget
    compile(check[3], "api healthcheck", "exec")
    assert "urlopen('http://127.0.0.1:8000/readyz'" in check[3]


def test_image_runs_the_travelbuddy_command_as_a_non_root_user(
    dockerfile: list[tuple[str, str]],
) -> None:
    base_image = instruction_values(dockerfile, "FROM")[-1].split()[0]
    assert base_image.startswith("python:3.11")
    assert exec_form(instruction_values(dockerfile, "ENTRYPOINT")[-1]) == ["travelbuddy"]
    assert exec_form(instruction_values(dockerfile, "CMD")[-1]) == ["api"]
    user = instruction_values(dockerfile, "USER")[-1].split(":")[0]
    assert user not in ("root", "0")
    exposed = " ".join(instruction_values(dockerfile, "EXPOSE")).split()
    assert "8000" in exposed or "8000/tcp" in exposed


def test_build_context_keeps_every_file_the_dockerfile_copies(
    dockerfile: list[tuple[str, str]],
) -> None:
    # .dockerignore is an allow-list (`*`, then `!path`); a COPY of a path it
    # does not re-include fails the build.
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    rules = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert rules[0] == "*"
    copies = [args.split() for args in instruction_values(dockerfile, "COPY")]
    sources = [s for args in copies if not args[0].startswith("--from") for s in args[:-1]]
    assert sources
    for source in sources:
        path = source.removeprefix("./").rstrip("/")
        assert f"!{path}" in rules or f"!{path}/" in rules, source


def test_cli_has_every_subcommand_compose_runs() -> None:
    import typer

    from travelbuddy.cli import app

    names = set(typer.main.get_group(app).commands)
    assert set(CLI_SUBCOMMANDS) <= names


def test_settings_read_the_variables_compose_sets(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from travelbuddy.config import Settings

    for name, value in environment(services["api"]).items():
        monkeypatch.setenv(name, value)

    settings = Settings()
    assert settings.mongodb_url is not None
    assert "mongodb:27017" in settings.mongodb_url
    assert "replicaSet=rs0" in settings.mongodb_url
    assert settings.kafka_bootstrap_servers == "kafka:9092"


def stages(dockerfile: list[tuple[str, str]]) -> dict[str, list[tuple[str, str]]]:
    """The Dockerfile's instructions by stage name (`FROM image AS name`; the last one,
    the image that runs, is also "final")."""
    by_stage: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for instruction, arguments in dockerfile:
        if instruction == "FROM":
            current = []
            words = arguments.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else words[0]
            by_stage[name] = current
            by_stage["final"] = current
        current.append((instruction, arguments))
    return by_stage


def test_image_builds_the_web_pages_in_a_node_stage_and_keeps_only_the_build(
    dockerfile: list[tuple[str, str]],
) -> None:
    built = stages(dockerfile)
    (web,) = [name for name, steps in built.items()
              if name != "final" and steps[0][1].startswith("node:")]
    runs = " && ".join(arguments for instruction, arguments in built[web] if instruction == "RUN")
    assert "npm ci" in runs  # web/package-lock.json's versions, nothing resolved anew
    assert "npm run build" in runs

    final = built["final"]
    assert final[0][1].startswith("python:3.11")
    copies = [arguments.split() for instruction, arguments in final if instruction == "COPY"]
    (from_web,) = [args for args in copies if args[0] == f"--from={web}"]
    assert from_web[1].rstrip("/").endswith("web/dist")
    env = " ".join(arguments for instruction, arguments in final if instruction == "ENV")
    assert f"TRAVELBUDDY_WEB_DIR={from_web[2].rstrip('/')}" in env


def test_image_installs_the_locked_dependencies_with_their_hashes(
    dockerfile: list[tuple[str, str]],
) -> None:
    final = stages(dockerfile)["final"]
    runs = [arguments for instruction, arguments in final if instruction == "RUN"]
    assert any("--require-hashes -r requirements.lock" in run for run in runs)
    assert any("pip install" in run and "--no-deps ." in run for run in runs)


def test_every_process_listens_on_all_interfaces_of_its_container(
    dockerfile: list[tuple[str, str]], services: dict[str, dict[str, Any]],
) -> None:
    """Published ports and Prometheus's scrapes reach a container from outside it: the API
    and the workers' metrics must not bind to the container's loopback (the default)."""
    env = " ".join(arguments for instruction, arguments in stages(dockerfile)["final"]
                   if instruction == "ENV").split()
    assert "TRAVELBUDDY_HOST=0.0.0.0" in env
    for name in ("api", "projector", "relay", "inbound", "partners"):
        assert services[name].get("environment", {}).get("TRAVELBUDDY_HOST", "0.0.0.0") \
            == "0.0.0.0", name


# The operations side: Prometheus, Grafana, Jaeger and what the service's processes tell
# them. Config files live under ops/ and are mounted read-only.

OPERATIONS = ("prometheus", "grafana", "jaeger")
PINNED_IMAGES = {
    "prometheus": r"prom/prometheus:v3\.\d+\.\d+",
    "grafana": r"grafana/grafana:12\.\d+\.\d+",  # 13 rejects classic dashboard files
    "jaeger": r"jaegertracing/jaeger:2\.\d+\.\d+",  # v2's one image is the all-in-one
}
API_PORT = 8000


def mounted(service: dict[str, Any], container_path: str) -> Path:
    """The file or folder of the checkout that `service` sees at `container_path`, through
    a read-only bind mount of it or of a folder above it."""
    for volume in service.get("volumes", []):
        source, target, *mode = str(volume).split(":")
        if source.startswith("./") and (container_path + "/").startswith(target.rstrip("/") + "/"):
            assert mode == ["ro"], volume
            return ROOT / source / Path(container_path).relative_to(target)
    raise AssertionError(f"{container_path} is not mounted: {service.get('volumes')}")


@pytest.fixture(scope="module")
def prometheus_config(services: dict[str, dict[str, Any]]) -> dict[str, Any]:
    flags = dict(part.split("=", 1) for part in command(services["prometheus"]))
    config: dict[str, Any] = yaml.safe_load(
        mounted(services["prometheus"], flags["--config.file"]).read_text())
    return config


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    from tests.promql import DASHBOARD

    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def provisioned(services: dict[str, dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """Grafana's provisioning files of one kind (datasources, dashboards), parsed."""
    folder = mounted(services["grafana"], f"/etc/grafana/provisioning/{kind}")
    files = sorted(folder.glob("*.yml")) + sorted(folder.glob("*.yaml"))
    assert files, folder
    return [yaml.safe_load(path.read_text()) for path in files]


@pytest.mark.parametrize("name", OPERATIONS)
def test_operations_services_run_pinned_images(
    name: str, services: dict[str, dict[str, Any]]
) -> None:
    assert re.fullmatch(PINNED_IMAGES[name], services[name]["image"])
    assert services[name]["restart"] == "unless-stopped"


def test_prometheus_scrapes_every_service_process_where_it_serves_metrics(
    services: dict[str, dict[str, Any]], prometheus_config: dict[str, Any]
) -> None:
    scraped = {
        (job["job_name"], job.get("metrics_path", "/metrics"), job.get("scheme", "http")):
        [target for static in job["static_configs"] for target in static["targets"]]
        for job in prometheus_config["scrape_configs"]
    }
    for name in CLI_SUBCOMMANDS:
        # The API on its HTTP port, each worker on its metrics port, as compose sets it.
        port = API_PORT if name == "api" else int(
            environment(services[name])["TRAVELBUDDY_METRICS_PORT"])
        assert scraped[(name, "/metrics", "http")] == [f"{name}:{port}"]
    assert 9090 in published_container_ports(services["prometheus"])


def test_prometheus_loads_the_alert_rules_it_is_given(
    services: dict[str, dict[str, Any]], prometheus_config: dict[str, Any]
) -> None:
    from tests.promql import ALERTS

    (rule_file,) = prometheus_config["rule_files"]
    assert mounted(services["prometheus"], rule_file) == ALERTS


def test_grafana_is_provisioned_with_prometheus_and_the_dashboard(
    services: dict[str, dict[str, Any]], prometheus_config: dict[str, Any],
    dashboard: dict[str, Any],
) -> None:
    from tests.promql import DASHBOARD

    (datasources,) = provisioned(services, "datasources")
    (prometheus,) = datasources["datasources"]
    assert prometheus["type"] == "prometheus"
    assert urlsplit(prometheus["url"]).netloc == "prometheus:9090"  # the compose service
    # $__rate_interval is four of these: a rate() over fewer scrapes may show nothing.
    assert prometheus["jsonData"]["timeInterval"] == prometheus_config["global"]["scrape_interval"]
    assert "prometheus" in dependency_conditions(services["grafana"])

    (dashboards,) = provisioned(services, "dashboards")
    (provider,) = dashboards["providers"]
    assert mounted(services["grafana"], provider["options"]["path"]) == DASHBOARD.parent
    home = environment(services["grafana"])["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert mounted(services["grafana"], home) == DASHBOARD
    assert 3000 in published_container_ports(services["grafana"])

    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    assert len(panels) >= 10
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": prometheus["uid"]}, panel
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"], panel["title"]
            assert target["expr"].strip(), panel["title"]


def test_the_dashboard_shows_what_operators_watch(dashboard: dict[str, Any]) -> None:
    from tests.promql import dashboard_expressions, metric_names

    read = {name for expression in dashboard_expressions(dashboard)
            for name in metric_names(expression)}
    assert read >= {
        "travelbuddy_commands_total", "travelbuddy_command_duration_seconds",
        "travelbuddy_graphql_operations_total", "travelbuddy_follower_lag_events",
        "travelbuddy_follower_lag_seconds", "travelbuddy_follower_parked_total",
        "travelbuddy_subscriptions_open", "travelbuddy_websockets_open",
        "travelbuddy_kafka_publish_errors_total", "travelbuddy_kafka_publish_duration_seconds",
        "travelbuddy_retries_total", "travelbuddy_worker_restarts_total",
    }
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_every_alert_rule_says_how_bad_it_is_and_what_to_do() -> None:
    from tests.promql import alert_rules

    rules = alert_rules()
    assert {rule["alert"] for rule in rules} >= {
        "FollowerLagging", "DeadLettersGrowing", "RelayNotPublishing", "WorkerRestarting",
        "TargetDown",
    }
    for rule in rules:
        assert rule["expr"].strip(), rule["alert"]
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert rule["annotations"]["summary"].strip(), rule["alert"]
        assert len(rule["annotations"]["description"].split()) >= 15, rule["alert"]


@pytest.mark.parametrize("name", CLI_SUBCOMMANDS)
def test_each_process_sends_traces_to_jaeger_and_logs_json(
    name: str, services: dict[str, dict[str, Any]]
) -> None:
    env = environment(services[name])
    endpoint = urlsplit(env["OTEL_EXPORTER_OTLP_ENDPOINT"])
    assert (endpoint.scheme, endpoint.netloc) == ("http", "jaeger:4318")  # OTLP over HTTP
    assert env["OTEL_SERVICE_NAME"] == f"travelbuddy-{name}"
    assert env["TRAVELBUDDY_LOG_FORMAT"] == "json"
    assert "jaeger" in dependency_conditions(services[name])
    assert {4318, 16686} <= published_container_ports(services["jaeger"])
