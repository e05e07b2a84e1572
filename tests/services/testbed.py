"""The test servers: a MongoDB-wire server with change streams and Apache Kafka in KRaft mode.

Both are Java programs fetched from Maven Central by `pom.xml` beside this file. They run
on 127.0.0.1 as child processes; each is stopped by PID, and each also dies with the
process that started it (PR_SET_PDEATHSIG), so an interrupted test run leaves nothing behind.

    python -m tests.services.testbed     # start both, print their URLs, stop on Ctrl-C
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ctypes
import fcntl
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TARGET = HERE / "target"
POM = HERE / "pom.xml"
SOURCES = HERE / "src"
JVM_OPTIONS = ["-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]
READY_TIMEOUT = 90.0


def build() -> str:
    """Fetch the jars with Maven and compile the launcher, each only when not done before for
    the same inputs; return the classpath.

    Both outputs are named by a digest of what they are made from (the pom; the sources,
    the jars and the javac), never judged by file times: a machine that kept ~/.m2 and
    `target/` from older sources, whatever the times a checkout or a cache restore gave
    them, builds the new ones. An output is written under a temporary name and renamed into
    place, so a test run starting meanwhile in another process never sees half of one.
    """
    TARGET.mkdir(exist_ok=True)
    with (TARGET / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one Maven, one javac at a time, across processes
        jars = _fetched_jars()
        classes = _compiled_launcher(jars)
    return f"{classes}{os.pathsep}{jars}"


def _digest(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()[:16]


def _fetched_jars() -> str:
    classpath_file = TARGET / f"classpath-{_digest(POM.read_bytes())}.txt"
    if classpath_file.exists():
        jars = classpath_file.read_text().strip()
        if all(Path(jar).exists() for jar in jars.split(os.pathsep)):
            return jars
    partial = classpath_file.with_name(f"{classpath_file.name}.{os.getpid()}.tmp")
    subprocess.run(
        ["mvn", "-q", "-B", "-f", str(POM), "dependency:build-classpath",
         f"-Dmdep.outputFile={partial}"],
        check=True,
    )
    partial.replace(classpath_file)
    return classpath_file.read_text().strip()


def _compiled_launcher(jars: str) -> Path:
    sources = sorted(SOURCES.glob("*.java"))
    javac = shutil.which("javac")
    if javac is None:
        raise RuntimeError("javac not found: the test servers need a JDK (see tests/run)")
    inputs = [os.fsencode(os.path.realpath(javac)), jars.encode()]
    for source in sources:
        inputs += [source.name.encode(), source.read_bytes()]
    classes = TARGET / f"classes-{_digest(*inputs)}"
    if classes.is_dir():
        return classes
    partial = Path(tempfile.mkdtemp(prefix=f"{classes.name}.", dir=TARGET))
    try:
        subprocess.run([javac, "-d", str(partial), "-cp", jars, *map(str, sources)], check=True)
        partial.chmod(0o755)  # mkdtemp's 0700 would keep the classes from other users
        partial.rename(classes)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return classes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: ask the kernel to kill it when we die.
    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def _run_async(factory: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run a coroutine to completion on a private loop, even when the caller has one running."""
    result: list[Any] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(factory()))
        except BaseException as error:  # handed back to the caller below
            errors.append(error)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


class JavaServer:
    """A JVM child process with a log file, started and stopped by PID."""

    name = "server"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"{self.name}.log"

    def command(self, classpath: str) -> list[str]:
        raise NotImplementedError

    def ping(self) -> bool:
        raise NotImplementedError

    def prepare(self, classpath: str) -> None:
        """Work to do before the first start (formatting storage, for instance)."""

    def start(self) -> None:
        """Start the server and return once it answers."""
        classpath = build()
        self.prepare(classpath)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(classpath), stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, cwd=self.workdir, preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while not self.ping():
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early; see {self.log_path}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} not ready in time; see {self.log_path}")
            time.sleep(0.2)

    def stop(self, *, kill: bool = False) -> None:
        """Stop the server by PID: SIGTERM and a grace period, or SIGKILL at once."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class MongoTestServer(JavaServer):
    """mongo-java-server with its oplog on; memory backend, or H2 on disk with `data_file`."""

    name = "mongodb"

    def __init__(self, workdir: Path, port: int | None = None, data_file: Path | None = None,
                 jvm_options: Sequence[str] = JVM_OPTIONS):
        super().__init__(workdir)
        self.port = port or free_port()
        self.data_file = data_file
        self.jvm_options = list(jvm_options)

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def command(self, classpath: str) -> list[str]:
        args = [str(self.port)] + ([str(self.data_file)] if self.data_file else [])
        return ["java", *self.jvm_options, "-cp", classpath, "MongoWireServer", *args]

    def ping(self) -> bool:
        from pymongo import MongoClient
        from pymongo.errors import PyMongoError

        client: MongoClient[dict[str, Any]] = MongoClient(self.url, serverSelectionTimeoutMS=500)
        try:
            return bool(client.admin.command("ping").get("ok"))
        except PyMongoError:
            return False
        finally:
            client.close()


class KafkaTestServer(JavaServer):
    """One Apache Kafka node in KRaft mode (broker and controller in one process)."""

    name = "kafka"

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        super().__init__(workdir)
        self.port = port or free_port()
        self.controller_port = free_port()
        self.config = workdir / "server.properties"
        self.log_dir = workdir / "kafka-logs"

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def prepare(self, classpath: str) -> None:
        if self.log_dir.exists():
            return  # formatted by an earlier start: a restart keeps its topics and offsets
        self.config.write_text(
            "\n".join([
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                f"listeners=PLAINTEXT://127.0.0.1:{self.port},"
                f"CONTROLLER://127.0.0.1:{self.controller_port}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "inter.broker.listener.name=PLAINTEXT",
                f"log.dirs={self.log_dir}",
                "auto.create.topics.enable=false",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=4",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "transaction.state.log.num.partitions=4",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
            ]) + "\n"
        )
        cluster_id = "-"
        while cluster_id.startswith("-"):  # a leading dash would read as an option
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        with self.log_path.open("ab") as log:
            subprocess.run(
                ["java", *JVM_OPTIONS, "-cp", classpath, "kafka.tools.StorageTool", "format",
                 "-t", cluster_id, "-c", str(self.config)],
                check=True, stdout=log, stderr=subprocess.STDOUT,
            )

    def command(self, classpath: str) -> list[str]:
        return [
            "java", *JVM_OPTIONS, "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
            "-cp", classpath, "kafka.Kafka", str(self.config),
        ]

    def ping(self) -> bool:
        try:  # a closed port first, quietly: aiokafka logs every refused connection
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            return False

        async def metadata() -> bool:
            from aiokafka.admin import AIOKafkaAdminClient

            admin = AIOKafkaAdminClient(
                bootstrap_servers=self.bootstrap_servers, request_timeout_ms=2000
            )
            try:
                await admin.start()
                await admin.list_topics()
                return True
            except Exception:
                return False
            finally:
                await admin.close()

        return bool(_run_async(metadata))


@contextlib.contextmanager
def running(*servers: JavaServer) -> Iterator[None]:
    """Start the servers in parallel threads; stop every one on the way out, whatever happened."""
    errors: list[BaseException] = []

    def start(server: JavaServer) -> None:
        try:
            server.start()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=start, args=(server,)) for server in servers]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        yield
    finally:
        for server in servers:
            server.stop()


def scratch_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"travelbuddy-{prefix}-"))


def main() -> None:
    workdir = scratch_dir("testbed")
    mongo, kafka = MongoTestServer(workdir), KafkaTestServer(workdir)
    started = time.monotonic()
    with running(mongo, kafka):
        print(f"ready in {time.monotonic() - started:.1f}s (logs in {workdir})")
        print(f"TRAVELBUDDY_MONGODB_URL={mongo.url}")
        print(f"TRAVELBUDDY_KAFKA_BOOTSTRAP_SERVERS={kafka.bootstrap_servers}")
        sys.stdout.flush()
        with contextlib.suppress(KeyboardInterrupt):
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
