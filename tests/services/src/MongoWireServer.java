import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.ServerVersion;
import de.bwaldvogel.mongo.backend.AbstractMongoBackend;
import de.bwaldvogel.mongo.backend.h2.H2Backend;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import de.bwaldvogel.mongo.bson.BsonTimestamp;
import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.oplog.Oplog;
import io.netty.channel.Channel;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.util.concurrent.CountDownLatch;

/**
 * The test MongoDB: mongo-java-server bound on 127.0.0.1 with its oplog on, so that
 * change streams work. Memory backend unless a data file is given (H2 MVStore on disk,
 * for tests whose data must survive a server restart).
 *
 * It answers every command with an {@code operationTime}, as a replica-set member does.
 * PyMongo needs it to open a change stream without an explicit start point on servers
 * of wire version 7 or newer; mongo-java-server leaves it out.
 *
 * Its oplog records only the documents an insert stored, in the order writes became
 * visible (see {@link CommittedWritesOplog}), as a replica set's does.
 *
 * Usage: MongoWireServer PORT [DATA_FILE]
 */
public final class MongoWireServer {
    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            System.err.println("usage: MongoWireServer PORT [DATA_FILE]");
            System.exit(2);
        }
        int port = Integer.parseInt(args[0]);
        OperationTime operationTime = new OperationTime();
        CommittedWritesOplog committedWrites = new CommittedWritesOplog();
        AbstractMongoBackend backend = args.length > 1
            ? new H2Backend(args[1]) {
                @Override
                public Document handleCommand(Channel channel, String db, String command, Document query) {
                    return operationTime.stamp(committedWrites.run(db, command, query,
                        () -> super.handleCommand(channel, db, command, query)));
                }

                @Override
                protected Oplog createOplog() {
                    return committedWrites.recordingInto(operationTime.readingClockOf(super.createOplog()));
                }
            }
            : new MemoryBackend() {
                @Override
                public Document handleCommand(Channel channel, String db, String command, Document query) {
                    return operationTime.stamp(committedWrites.run(db, command, query,
                        () -> super.handleCommand(channel, db, command, query)));
                }

                @Override
                protected Oplog createOplog() {
                    return committedWrites.recordingInto(operationTime.readingClockOf(super.createOplog()));
                }
            };
        backend.version(ServerVersion.MONGO_5_0);
        MongoServer server = new MongoServer(backend);
        server.enableOplog();
        server.bind("127.0.0.1", port);
        System.out.println("mongo-java-server listening on 127.0.0.1:" + port);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.shutdownNow();
            backend.close();
            stopped.countDown();
        }));
        stopped.await();
    }

    /** Reads the oplog's own clock, so operation times and oplog entries share one order. */
    private static final class OperationTime {
        private volatile Object clock;
        private volatile Method now;

        /** Takes the clock of the server's oplog; returns that oplog. */
        Oplog readingClockOf(Oplog oplog) {
            try {
                Field clockField = oplog.getClass().getDeclaredField("oplogClock");
                clockField.setAccessible(true);
                Object oplogClock = clockField.get(oplog);
                Method clockNow = oplogClock.getClass().getDeclaredMethod("now");
                clockNow.setAccessible(true);
                now = clockNow;
                clock = oplogClock;
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException(e);
            }
            return oplog;
        }

        Document stamp(Document response) {
            Object oplogClock = clock;
            if (oplogClock != null && response != null && !response.containsKey("operationTime")) {
                try {
                    response.put("operationTime", (BsonTimestamp) now.invoke(oplogClock));
                } catch (ReflectiveOperationException e) {
                    throw new IllegalStateException(e);
                }
            }
            return response;
        }
    }
}
