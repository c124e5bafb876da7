/*
 * Alfresco's database layer under failover, without Alfresco: the PostgreSQL
 * JDBC driver behind an Apache Commons DBCP2 BasicDataSource set up from the
 * alfresco profile's db.* properties the way Alfresco's defaultDataSource
 * bean maps them, node-create shaped transactions (transaction, node, child
 * association and property rows plus chaosha's ledger row in one database
 * transaction), retried like Alfresco's RetryingTransactionHelper, every
 * attempt written to chaosha's JSON-lines ledger.
 *
 * Usage: java -cp <classes>:<jars> ChaoshaAlfrescoClient --run-id RUN --ledger FILE --config FILE
 * The config file (Java properties, written by chaosha.alfresco.jdbc) holds
 * the db.* and server.transaction.* properties and the chaosha.* run options.
 * Stops at chaosha.duration_s, after chaosha.max_ops operations, or on SIGTERM;
 * writes an "end" record either way.
 */

import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLWarning;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.UUID;
import java.util.WeakHashMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.commons.dbcp2.BasicDataSource;
import org.apache.commons.dbcp2.DelegatingConnection;

public final class ChaoshaAlfrescoClient {
    static final String SCHEMA = "chaosha_alf";
    static final String[] SCHEMA_SQL = {
        "CREATE SCHEMA IF NOT EXISTS " + SCHEMA,
        "CREATE TABLE IF NOT EXISTS " + SCHEMA + ".alf_transaction (id bigserial PRIMARY KEY, "
            + "change_txn_id varchar(56) NOT NULL, commit_time_ms bigint NOT NULL)",
        "CREATE TABLE IF NOT EXISTS " + SCHEMA + ".alf_node (id bigserial PRIMARY KEY, "
            + "uuid varchar(36) NOT NULL UNIQUE, transaction_id bigint NOT NULL REFERENCES "
            + SCHEMA + ".alf_transaction (id), type_qname varchar(100) NOT NULL, audit_created varchar(30))",
        // The name of a node is unique in its folder: a retried create whose
        // first attempt did commit clashes here (Alfresco: 409 duplicate name).
        "CREATE TABLE IF NOT EXISTS " + SCHEMA + ".alf_child_assoc (id bigserial PRIMARY KEY, "
            + "parent_name varchar(100) NOT NULL, child_node_id bigint NOT NULL REFERENCES " + SCHEMA
            + ".alf_node (id), child_node_name varchar(255) NOT NULL, UNIQUE (parent_name, child_node_name))",
        "CREATE TABLE IF NOT EXISTS " + SCHEMA + ".alf_node_properties (node_id bigint NOT NULL REFERENCES "
            + SCHEMA + ".alf_node (id), qname varchar(100) NOT NULL, string_value text, PRIMARY KEY (node_id, qname))",
    };
    static final String TXN_SQL = "INSERT INTO " + SCHEMA
        + ".alf_transaction (change_txn_id, commit_time_ms) VALUES (?, ?) RETURNING id";
    static final String NODE_SQL = "INSERT INTO " + SCHEMA
        + ".alf_node (uuid, transaction_id, type_qname, audit_created) VALUES (?, ?, 'cm:content', ?) RETURNING id";
    static final String ASSOC_SQL = "INSERT INTO " + SCHEMA
        + ".alf_child_assoc (parent_name, child_node_id, child_node_name) VALUES (?, ?, ?)";
    static final String PROP_SQL = "INSERT INTO " + SCHEMA
        + ".alf_node_properties (node_id, qname, string_value) VALUES (?, ?, ?)";
    static final String UNIQUE_VIOLATION = "23505";
    static final int RESERVE_BLOCK = 1000;
    static final long STOP_GRACE_MS = 5000;

    final Properties conf;
    final String run;
    final Ledger ledger;
    final BasicDataSource pool;
    final String insertLedgerSql;
    final int maxRetries;
    final int minWaitMs;
    final int maxWaitMs;
    final int waitIncrementMs;
    final long maxOps;
    final AtomicLong ops = new AtomicLong();
    final AtomicLong ids = new AtomicLong();
    final AtomicLong attempts = new AtomicLong();
    long reserved = 0;
    final AtomicBoolean stop = new AtomicBoolean();
    final AtomicBoolean ended = new AtomicBoolean();
    final Map<Long, Map<String, Object>> inFlight = new ConcurrentHashMap<>();
    final Map<Object, Long> physical = new WeakHashMap<>();
    long connections = 0;
    final List<Thread> workers = new ArrayList<>();
    final List<String> errors = new ArrayList<>();

    ChaoshaAlfrescoClient(Properties conf, String run, Ledger ledger) {
        this.conf = conf;
        this.run = run;
        this.ledger = ledger;
        this.pool = dataSource(conf);
        this.insertLedgerSql = need(conf, "chaosha.ledger_insert_sql");
        this.maxRetries = Math.max(1, integer(conf, "server.transaction.max-retries"));
        this.minWaitMs = integer(conf, "server.transaction.min-retry-wait-ms");
        this.maxWaitMs = integer(conf, "server.transaction.max-retry-wait-ms");
        this.waitIncrementMs = integer(conf, "server.transaction.wait-increment-ms");
        this.maxOps = Long.parseLong(need(conf, "chaosha.max_ops"));
    }

    /** The pool as Alfresco's defaultDataSource bean sets it from db.* properties. */
    static BasicDataSource dataSource(Properties p) {
        BasicDataSource ds = new BasicDataSource();
        ds.setDriverClassName(need(p, "db.driver"));
        ds.setUrl(need(p, "db.url"));
        ds.setUsername(need(p, "db.username"));
        ds.setPassword(need(p, "db.password"));
        ds.setInitialSize(integer(p, "db.pool.initial"));
        ds.setMaxTotal(integer(p, "db.pool.max"));
        ds.setMinIdle(integer(p, "db.pool.min"));
        ds.setMaxIdle(integer(p, "db.pool.idle"));
        ds.setMaxWaitMillis(Long.parseLong(need(p, "db.pool.wait.max")));
        String query = p.getProperty("db.pool.validate.query", "").trim();
        ds.setValidationQuery(query.isEmpty() ? null : query);
        ds.setTestOnBorrow(bool(p, "db.pool.validate.borrow"));
        ds.setTestOnReturn(bool(p, "db.pool.validate.return"));
        ds.setTestWhileIdle(bool(p, "db.pool.evict.validate"));
        ds.setTimeBetweenEvictionRunsMillis(Long.parseLong(need(p, "db.pool.evict.interval")));
        ds.setMinEvictableIdleTimeMillis(Long.parseLong(need(p, "db.pool.evict.idle.min")));
        ds.setNumTestsPerEvictionRun(integer(p, "db.pool.evict.num.tests"));
        ds.setPoolPreparedStatements(bool(p, "db.pool.statements.enable"));
        ds.setMaxOpenPreparedStatements(integer(p, "db.pool.statements.max"));
        ds.setRemoveAbandonedOnBorrow(bool(p, "db.pool.abandoned.detect"));
        ds.setRemoveAbandonedTimeout(integer(p, "db.pool.abandoned.time"));
        int isolation = integer(p, "db.txn.isolation");
        if (isolation >= 0) {
            ds.setDefaultTransactionIsolation(isolation);
        }
        ds.setDefaultAutoCommit(false);
        // Lets the client name the physical connection behind a pooled one
        // (to count stale connections); changes nothing in the pool.
        ds.setAccessToUnderlyingConnectionAllowed(true);
        return ds;
    }

    static String need(Properties p, String key) {
        String value = p.getProperty(key);
        if (value == null) {
            throw new IllegalArgumentException("missing setting " + key + " in the client config");
        }
        return value.trim();
    }

    static int integer(Properties p, String key) {
        return Integer.parseInt(need(p, key));
    }

    static boolean bool(Properties p, String key) {
        return Boolean.parseBoolean(need(p, key));
    }

    static double now() {
        return Math.round(System.currentTimeMillis() * 1000.0) / 1e6;
    }

    /** The next ledger id, its block reserved in the ledger before first use. */
    synchronized long nextId() {
        long id = ids.incrementAndGet();
        if (id > reserved) {
            reserved = id - 1 + RESERVE_BLOCK;
            Map<String, Object> rec = new LinkedHashMap<>();
            rec.put("k", "reserve");
            rec.put("upto", reserved);
            ledger.append(rec);
        }
        return id;
    }

    void createSchema() throws SQLException {
        try (Connection c = pool.getConnection(); Statement st = c.createStatement()) {
            for (String sql : SCHEMA_SQL) {
                st.execute(sql);
            }
            st.execute(need(conf, "chaosha.ledger_table_sql"));
            c.commit();
        }
    }

    /** Which physical connection (1, 2, ...) a pooled one is, and whether it was handed out before. */
    Object[] physicalOf(Connection c) {
        // the driver's connection behind DBCP's wrappers (no check that it
        // is still open: a dead one handed out again must be recognised)
        Object inner = c instanceof DelegatingConnection ? ((DelegatingConnection<?>) c).getInnermostDelegate() : null;
        if (inner == null) {
            inner = c;
        }
        synchronized (physical) {
            Long number = physical.get(inner);
            if (number != null) {
                return new Object[] {number, true};
            }
            connections += 1;
            physical.put(inner, connections);
            return new Object[] {connections, false};
        }
    }

    /** One attempt of node create ``op``: its ledger record. */
    Map<String, Object> attempt(long op, int attempt) {
        long id = nextId();
        attempts.incrementAndGet();
        Map<String, Object> rec = new LinkedHashMap<>();
        rec.put("k", "w");
        rec.put("id", id);
        rec.put("op", op);
        rec.put("try", attempt);
        rec.put("t0", now());
        inFlight.put(id, rec);
        String step = "borrow";
        Connection c = null;
        try {
            c = pool.getConnection();
            Object[] phys = physicalOf(c);
            rec.put("conn", phys[0]);
            rec.put("reused", phys[1]);
            c.setAutoCommit(false);
            step = "first";
            long txn;
            try (PreparedStatement ps = c.prepareStatement(TXN_SQL)) {
                ps.setString(1, run + "-" + id);
                ps.setLong(2, System.currentTimeMillis());
                txn = single(ps);
            }
            step = "node";
            long node;
            try (PreparedStatement ps = c.prepareStatement(NODE_SQL)) {
                ps.setString(1, UUID.randomUUID().toString());
                ps.setLong(2, txn);
                ps.setString(3, java.time.Instant.now().toString());
                node = single(ps);
            }
            step = "assoc";
            try (PreparedStatement ps = c.prepareStatement(ASSOC_SQL)) {
                ps.setString(1, "chaos-probe-" + run);
                ps.setLong(2, node);
                ps.setString(3, "doc-" + op + ".txt");
                ps.executeUpdate();
            }
            step = "props";
            try (PreparedStatement ps = c.prepareStatement(PROP_SQL)) {
                String[][] props = {{"cm:name", "doc-" + op + ".txt"}, {"cm:title", "chaosha " + run},
                    {"chaosha:ledgerId", Long.toString(id)}};
                for (String[] prop : props) {
                    ps.setLong(1, node);
                    ps.setString(2, prop[0]);
                    ps.setString(3, prop[1]);
                    ps.addBatch();
                }
                ps.executeBatch();
            }
            step = "ledger";
            try (PreparedStatement ps = c.prepareStatement(insertLedgerSql)) {
                ps.setString(1, run);
                ps.setLong(2, id);
                try (ResultSet rs = ps.executeQuery()) {
                    if (rs.next()) {
                        rec.put("addr", rs.getString(1));
                        rec.put("tl", rs.getInt(2));
                        rec.put("member", rs.getString(3));
                    }
                }
            }
            step = "commit";
            c.commit();
            rec.put("r", "ok");
            String warning = warnings(c.getWarnings());
            if (!warning.isEmpty()) {
                rec.put("warn", warning.length() > 200 ? warning.substring(0, 200) : warning);
            }
        } catch (SQLException e) {
            // Nothing is in doubt until COMMIT was sent: an earlier error
            // aborted the transaction on the server.
            rec.put("r", "commit".equals(step) ? "in-doubt" : "failed");
            rec.put("err", text(e));
            rec.put("state", e.getSQLState());
            rec.put("step", step);
            if (UNIQUE_VIOLATION.equals(e.getSQLState()) && "assoc".equals(step)) {
                rec.put("dup", true);
            }
            // the pool handed out a connection that was dead (validated or not)
            if ("first".equals(step) && connectionError(e)) {
                rec.put("stale", true);
            }
            rollback(c);
        } catch (RuntimeException e) {
            rec.put("r", "commit".equals(step) ? "in-doubt" : "failed");
            rec.put("err", text(e));
            rec.put("step", step);
            rollback(c);
        } finally {
            close(c);
        }
        rec.put("t1", now());
        if (inFlight.remove(id) != null) {
            ledger.append(rec);
        }
        return rec;
    }

    static long single(PreparedStatement ps) throws SQLException {
        try (ResultSet rs = ps.executeQuery()) {
            rs.next();
            return rs.getLong(1);
        }
    }

    static boolean connectionError(SQLException e) {
        String state = e.getSQLState();
        return state == null || state.startsWith("08") || state.startsWith("57P");
    }

    static String warnings(SQLWarning w) {
        StringBuilder sb = new StringBuilder();
        for (; w != null; w = w.getNextWarning()) {
            if (sb.length() > 0) {
                sb.append("; ");
            }
            sb.append(w.getMessage());
        }
        return sb.toString();
    }

    static String text(Throwable e) {
        String message = e.getClass().getSimpleName() + ": " + e.getMessage();
        message = message.replace('\n', ' ');
        return message.length() > 300 ? message.substring(0, 300) : message;
    }

    static void rollback(Connection c) {
        if (c != null) {
            try {
                c.rollback();
            } catch (SQLException | RuntimeException ignored) {
                // the connection is broken: the pool drops it on close
            }
        }
    }

    static void close(Connection c) {
        if (c != null) {
            try {
                c.close();
            } catch (SQLException | RuntimeException ignored) {
                // already closed
            }
        }
    }

    /** RetryingTransactionHelper's wait before retry ``count`` (1, 2, ...). */
    long retryWaitMs(int count, Random random) {
        int wait = count > 0 && waitIncrementMs > 0 ? random.nextInt(count * waitIncrementMs) : minWaitMs;
        return Math.max(Math.min(maxWaitMs, wait), minWaitMs);
    }

    /** One node create, retried on SQL errors as Alfresco retries a transaction. */
    void operation(long op, Random random) throws InterruptedException {
        Map<String, Object> rec = new LinkedHashMap<>();
        rec.put("k", "op");
        rec.put("op", op);
        rec.put("t0", now());
        String result = "failed";
        int count = 0;
        while (count < maxRetries) {
            if (count > 0) {
                if (stop.get()) {
                    result = "stopped";
                    break;
                }
                Thread.sleep(retryWaitMs(count, random));
            }
            Map<String, Object> a = attempt(op, count + 1);
            count += 1;
            if ("ok".equals(a.get("r"))) {
                result = "ok";
                break;
            }
            if (Boolean.TRUE.equals(a.get("dup"))) {
                result = "duplicate";
                break;
            }
        }
        rec.put("r", result);
        rec.put("tries", count);
        rec.put("t1", now());
        ledger.append(rec);
    }

    void work(int number, double rate) {
        Random random = new Random();
        long interval = rate > 0 ? (long) (1e9 / rate) : 0;
        long next = System.nanoTime();
        try {
            while (!stop.get()) {
                long op = ops.incrementAndGet();
                if (op > maxOps) {
                    stop.set(true);
                    break;
                }
                operation(op, random);
                next += interval;
                long sleep = next - System.nanoTime();
                if (sleep > 0) {
                    Thread.sleep(sleep / 1000000, (int) (sleep % 1000000));
                } else {
                    next = System.nanoTime();
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            synchronized (errors) {
                errors.add("worker " + number + ": " + text(e));
            }
            stop.set(true);
        }
    }

    void header() {
        Map<String, Object> rec = new LinkedHashMap<>();
        rec.put("k", "run");
        rec.put("run", run);
        rec.put("t", now());
        rec.put("pid", ProcessHandle.current().pid());
        rec.put("client", "jdbc");
        rec.put("target", conf.getProperty("chaosha.target", ""));
        rec.put("database", conf.getProperty("chaosha.database", ""));
        rec.put("duration", Double.parseDouble(need(conf, "chaosha.duration_s")));
        rec.put("max_writes", maxOps);
        rec.put("rate", Double.parseDouble(need(conf, "chaosha.rate")));
        rec.put("threads", integer(conf, "chaosha.threads"));
        rec.put("fresh_writers", 0);
        List<Object> members = new ArrayList<>();
        for (String m : conf.getProperty("chaosha.members", "").split(",")) {
            if (!m.isBlank()) {
                members.add(m.trim());
            }
        }
        rec.put("members", members);
        Map<String, Object> settings = new LinkedHashMap<>();
        for (String key : new java.util.TreeSet<>(conf.stringPropertyNames())) {
            if ((key.startsWith("db.") || key.startsWith("server.transaction.")) && !key.equals("db.password")) {
                settings.put(key, conf.getProperty(key));
            }
        }
        rec.put("settings", settings);
        rec.put("driver", org.postgresql.Driver.class.getPackage().getImplementationVersion());
        ledger.append(rec);
    }

    /** Stop the workers (waiting a grace period), record what is still in flight as in doubt, write the end. */
    void finish(String reason) {
        if (!ended.compareAndSet(false, true)) {
            return;
        }
        stop.set(true);
        long deadline = System.currentTimeMillis() + STOP_GRACE_MS;
        for (Thread t : workers) {
            t.interrupt();
        }
        for (Thread t : workers) {
            try {
                t.join(Math.max(1, deadline - System.currentTimeMillis()));
            } catch (InterruptedException e) {
                break;
            }
        }
        for (Long id : new ArrayList<>(inFlight.keySet())) {
            Map<String, Object> rec = inFlight.remove(id);
            if (rec != null) {
                rec.put("r", "in-doubt");
                rec.put("err", "still in flight when the client stopped");
                rec.put("t1", now());
                ledger.append(rec);
            }
        }
        Map<String, Object> rec = new LinkedHashMap<>();
        rec.put("k", "end");
        rec.put("run", run);
        rec.put("t", now());
        rec.put("reason", reason);
        rec.put("writes", attempts.get());
        rec.put("ops", Math.min(ops.get(), maxOps));
        rec.put("last_id", ids.get());
        rec.put("pool_created", pool.getNumActive() + pool.getNumIdle());
        synchronized (errors) {
            rec.put("errors", new ArrayList<Object>(errors));
        }
        ledger.append(rec);
        try {
            pool.close();
        } catch (SQLException | RuntimeException ignored) {
            // closing is best effort
        }
        ledger.close();
    }

    public static void main(String[] args) throws Exception {
        String run = "";
        String ledgerPath = "";
        String config = "";
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--run-id": run = args[i + 1]; break;
                case "--ledger": ledgerPath = args[i + 1]; break;
                case "--config": config = args[i + 1]; break;
                default: throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        if (run.isEmpty() || ledgerPath.isEmpty() || config.isEmpty()) {
            System.err.println("usage: ChaoshaAlfrescoClient --run-id RUN --ledger FILE --config FILE");
            System.exit(2);
        }
        Properties conf = new Properties();
        try (InputStream in = new FileInputStream(config)) {
            conf.load(in);
        }
        ChaoshaAlfrescoClient client;
        Ledger ledger = new Ledger(ledgerPath);
        try {
            client = new ChaoshaAlfrescoClient(conf, run, ledger);
        } catch (IllegalArgumentException e) {
            System.err.println("chaosha alfresco client: " + e.getMessage());
            System.exit(2);
            return;
        }
        try {
            client.createSchema();
        } catch (SQLException e) {
            Map<String, Object> rec = new LinkedHashMap<>();
            rec.put("k", "end");
            rec.put("run", run);
            rec.put("t", now());
            rec.put("reason", "error: cannot create the tables: " + text(e));
            ledger.append(rec);
            ledger.close();
            System.err.println("chaosha alfresco client: " + text(e));
            System.exit(1);
        }
        client.header();
        int threads = integer(conf, "chaosha.threads");
        double rate = Double.parseDouble(need(conf, "chaosha.rate")) / threads;
        for (int i = 1; i <= threads; i++) {
            final int number = i;
            Thread t = new Thread(() -> client.work(number, rate), "worker-" + i);
            t.setDaemon(true);
            client.workers.add(t);
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> client.finish("signal"), "stop"));
        for (Thread t : client.workers) {
            t.start();
        }
        long end = System.currentTimeMillis() + (long) (Double.parseDouble(need(conf, "chaosha.duration_s")) * 1000);
        while (!client.stop.get() && System.currentTimeMillis() < end) {
            Thread.sleep(100);
        }
        String reason = client.stop.get() ? "count" : "duration";
        synchronized (client.errors) {
            if (!client.errors.isEmpty()) {
                reason = "error: " + client.errors.get(0);
            }
        }
        client.finish(reason);
        System.exit(0);
    }

    /** The append-only JSON-lines ledger: one line per record, flushed at once. */
    static final class Ledger {
        final OutputStream out;

        Ledger(String path) throws IOException {
            out = new FileOutputStream(path, true);
        }

        synchronized void append(Map<String, Object> record) {
            try {
                out.write((Json.of(record) + "\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
            } catch (IOException e) {
                throw new IllegalStateException("cannot write the ledger: " + e.getMessage(), e);
            }
        }

        synchronized void close() {
            try {
                out.close();
            } catch (IOException ignored) {
                // nothing more to write
            }
        }
    }

    /** Just enough JSON: maps, lists, strings, numbers, booleans, null. */
    static final class Json {
        static String of(Object value) {
            StringBuilder sb = new StringBuilder();
            write(sb, value);
            return sb.toString();
        }

        static void write(StringBuilder sb, Object v) {
            if (v == null) {
                sb.append("null");
            } else if (v instanceof Map) {
                sb.append('{');
                boolean first = true;
                for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                    if (!first) {
                        sb.append(',');
                    }
                    first = false;
                    string(sb, String.valueOf(e.getKey()));
                    sb.append(':');
                    write(sb, e.getValue());
                }
                sb.append('}');
            } else if (v instanceof List) {
                sb.append('[');
                boolean first = true;
                for (Object o : (List<?>) v) {
                    if (!first) {
                        sb.append(',');
                    }
                    first = false;
                    write(sb, o);
                }
                sb.append(']');
            } else if (v instanceof Boolean || v instanceof Integer || v instanceof Long) {
                sb.append(v);
            } else if (v instanceof Double) {
                double d = (Double) v;
                sb.append(Double.isFinite(d) ? Double.toString(d) : "null");
            } else {
                string(sb, v.toString());
            }
        }

        static void string(StringBuilder sb, String s) {
            sb.append('"');
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                switch (c) {
                    case '"': sb.append("\\\""); break;
                    case '\\': sb.append("\\\\"); break;
                    case '\n': sb.append("\\n"); break;
                    case '\r': sb.append("\\r"); break;
                    case '\t': sb.append("\\t"); break;
                    default:
                        if (c < 0x20) {
                            sb.append(String.format("\\u%04x", (int) c));
                        } else {
                            sb.append(c);
                        }
                }
            }
            sb.append('"');
        }
    }
}
