import de.bwaldvogel.mongo.backend.Cursor;
import de.bwaldvogel.mongo.backend.Utils;
import de.bwaldvogel.mongo.backend.aggregation.Aggregation;
import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.oplog.Oplog;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

/**
 * The server's oplog, made to record what a replica set's would: only the documents an
 * insert stored, and each collection's writes in the order they became visible.
 *
 * mongo-java-server hands the oplog every document of an insert command, those refused
 * (a duplicate key) and those an ordered batch never tried after a refusal included, so
 * a change stream showed inserts that never happened. Here the oplog entries of an insert
 * command are held back until the command has answered, and only the documents its
 * answer does not list as write errors are recorded.
 *
 * mongo-java-server also writes a collection and the oplog under separate locks, so a
 * second writer could read a new document and have its own write recorded first. Every
 * write command on a collection therefore runs under one lock per collection, which it
 * holds until its oplog entries are written.
 */
final class CommittedWritesOplog implements Oplog {
    private static final Set<String> WRITE_COMMANDS = Set.of("insert", "update", "delete", "findandmodify");

    private final ConcurrentHashMap<String, Object> collectionLocks = new ConcurrentHashMap<>();
    private final ThreadLocal<HeldInsert> heldInsert = new ThreadLocal<>();
    private volatile Oplog oplog;

    /** Records into {@code oplog}, the server's own; returns this, for the backend to use. */
    Oplog recordingInto(Oplog oplog) {
        this.oplog = oplog;
        return this;
    }

    /** Runs one command of a client; a write command as described above. */
    Document run(String database, String command, Document query, Supplier<Document> handler) {
        String name = command.toLowerCase(Locale.ROOT);
        if (oplog == null || !WRITE_COMMANDS.contains(name) || !(query.get(command) instanceof String)) {
            return handler.get();
        }
        String namespace = database + "." + query.get(command);
        synchronized (collectionLocks.computeIfAbsent(namespace, key -> new Object())) {
            if (!name.equals("insert")) {
                return handler.get(); // an update or delete writes its oplog entries itself
            }
            HeldInsert held = new HeldInsert();
            heldInsert.set(held);
            Document response;
            try {
                response = handler.get();
            } finally {
                heldInsert.remove();
            }
            if (held.namespace != null) {
                List<Document> stored = stored(held.documents, response, Utils.isTrue(query.get("ordered")));
                if (!stored.isEmpty()) {
                    oplog.handleInsert(held.namespace, stored);
                }
            }
            return response;
        }
    }

    /** The documents of an insert that its answer does not refuse; an ordered insert stops
     * at its first refusal (mongo-java-server's ordered flag, read the same way). */
    private static List<Document> stored(List<Document> documents, Document response, boolean ordered) {
        Set<Integer> refused = new HashSet<>();
        Object writeErrors = response == null ? null : response.get("writeErrors");
        if (writeErrors instanceof List<?>) {
            for (Object error : (List<?>) writeErrors) {
                refused.add(((Number) ((Document) error).get("index")).intValue());
            }
        }
        List<Document> stored = new ArrayList<>();
        for (int index = 0; index < documents.size(); index++) {
            if (refused.contains(index)) {
                if (ordered) {
                    break;
                }
                continue;
            }
            stored.add(documents.get(index));
        }
        return stored;
    }

    @Override
    public void handleInsert(String namespace, List<Document> documents) {
        HeldInsert held = heldInsert.get();
        if (held == null) {
            oplog.handleInsert(namespace, documents); // an upsert: recorded once it is stored
        } else {
            if (held.namespace != null) {
                throw new IllegalStateException("one insert command, two oplog inserts: " + namespace);
            }
            held.namespace = namespace;
            held.documents = documents;
        }
    }

    @Override
    public void handleUpdate(String namespace, Document selector, Document query, List<Object> modifiedIds) {
        oplog.handleUpdate(namespace, selector, query, modifiedIds);
    }

    @Override
    public void handleDelete(String namespace, Document query, List<Object> deletedIds) {
        oplog.handleDelete(namespace, query, deletedIds);
    }

    @Override
    public void handleDropCollection(String namespace) {
        oplog.handleDropCollection(namespace);
    }

    @Override
    public Cursor createCursor(Document changeStreamDocument, String namespace, Aggregation aggregation) {
        return oplog.createCursor(changeStreamDocument, namespace, aggregation);
    }

    private static final class HeldInsert {
        String namespace;
        List<Document> documents;
    }
}
