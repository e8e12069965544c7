/* The sandbox state machine of sandbox-memory, table by table: for each state a sandbox
 * can be in and each lifecycle operation, the reply, the states it passes through and
 * the state it ends in (runner-api.md sections 2.3 to 2.11 and 5.3, the Go mock's
 * README). Operations go over HTTP to an in-process runner on port 0, with the default
 * (immediate) timing; the starting state is imported (mr_runner_import_state()), or
 * reached by letting the state cache expire on the runner's clock.
 *
 * The Go mock's leniencies are the default; STRICT=true answers 404 where the real
 * runners find no container, and makes resize keep the state. */
#include "mr-test-http.h"

#define ID "sb-sm"

typedef enum {
  OP_CREATE,
  OP_START,
  OP_STOP,
  OP_DESTROY,
  OP_REMOVE,
  OP_BACKUP,
  OP_RESIZE,
  OP_RECOVER,
  OP_NETWORK,
  OP_GET,
  N_OPS
} Op;

static const struct {
  const char *name;
  const char *method;
  const char *path;          /* after /sandboxes */
  const char *body;
} ops[N_OPS] = {
  [OP_CREATE] = { "create", "POST", "", NULL /* mr_test_create_json () */ },
  [OP_START] = { "start", "POST", "/" ID "/start", "{}" },
  [OP_STOP] = { "stop", "POST", "/" ID "/stop", "{}" },
  [OP_DESTROY] = { "destroy", "POST", "/" ID "/destroy", NULL },
  [OP_REMOVE] = { "remove", "DELETE", "/" ID, NULL },
  [OP_BACKUP] = { "backup", "POST", "/" ID "/backup", "{\"registry\":{\"url\":\"registry.local\"},\"snapshot\":\"bk:1\"}" },
  [OP_RESIZE] = { "resize", "POST", "/" ID "/resize", "{\"cpu\":2,\"gpu\":0,\"memory\":2}" },
  [OP_RECOVER] = { "recover", "POST", "/" ID "/recover", "{\"userId\":\"u\",\"osUser\":\"daytona\"}" },
  [OP_NETWORK] = { "network-settings", "POST", "/" ID "/network-settings", "{\"networkBlockAll\":true}" },
  [OP_GET] = { "get", "GET", "/" ID, NULL },
};

/* Where a row starts: "absent" (never created, or destroyed: the record is gone),
 * "expired" (started, then nobody touched it for CACHE_RETENTION_DAYS), or a state
 * imported as is. */
#define ABSENT "absent"
#define EXPIRED "expired"

/* What the reply must be: a JSON string literal (the action routes), "{daemonVersion}"
 * (create and start, as the June-2026 runner answers), or an error code. */
#define DAEMON_VERSION "{daemonVersion}"

typedef struct {
  const char *from;
  Op op;
  guint status;
  const char *reply;
  const char *via;           /* the states signalled on the way, in order ("" for none) */
  const char *to;            /* what GET reports afterwards */
  gboolean held;             /* whether the plugin still holds a record */
} Row;

#define CREATED  201, DAEMON_VERSION
#define STARTED  200, DAEMON_VERSION
#define STOPPED  200, "\"Sandbox stopped\""
#define DESTROYED 200, "\"Sandbox destroyed\""
#define REMOVED  200, "\"Sandbox removed\""
#define BACKUP   201, "\"Backup started\""
#define RESIZED  200, "\"Sandbox resized\""
#define RECOVERED 200, "\"Sandbox recovered\""
#define NETWORK  200, "\"Network settings updated\""
#define INFO     200, NULL

/* The Go mock's machine (section 5.3), the default. The imported states cover every
 * intermediate one a polling client can see; "expired" reads back as unknown. */
static const Row lenient[] = {
  /* create: idempotent for started, pulling_snapshot and starting; starts stopped and
   * creating; any other state is created again */
  { ABSENT, OP_CREATE, CREATED, "creating,starting,started", "started", TRUE },
  { "creating", OP_CREATE, CREATED, "starting,started", "started", TRUE },
  { "pulling_snapshot", OP_CREATE, CREATED, "", "pulling_snapshot", TRUE },
  { "starting", OP_CREATE, CREATED, "", "starting", TRUE },
  { "started", OP_CREATE, CREATED, "", "started", TRUE },
  { "stopping", OP_CREATE, CREATED, "creating,starting,started", "started", TRUE },
  { "stopped", OP_CREATE, CREATED, "starting,started", "started", TRUE },
  { "resizing", OP_CREATE, CREATED, "creating,starting,started", "started", TRUE },
  { "destroying", OP_CREATE, CREATED, "creating,starting,started", "started", TRUE },
  { "error", OP_CREATE, CREATED, "creating,starting,started", "started", TRUE },
  { EXPIRED, OP_CREATE, CREATED, "creating,starting,started", "started", TRUE },

  /* start: from anything to started; an unknown id gets a new record ("start
   * resurrects"); a started sandbox is left as it is */
  { ABSENT, OP_START, STARTED, "starting,started", "started", TRUE },
  { "creating", OP_START, STARTED, "starting,started", "started", TRUE },
  { "pulling_snapshot", OP_START, STARTED, "starting,started", "started", TRUE },
  { "starting", OP_START, STARTED, "started", "started", TRUE },
  { "started", OP_START, STARTED, "", "started", TRUE },
  { "stopping", OP_START, STARTED, "starting,started", "started", TRUE },
  { "stopped", OP_START, STARTED, "starting,started", "started", TRUE },
  { "resizing", OP_START, STARTED, "starting,started", "started", TRUE },
  { "destroying", OP_START, STARTED, "starting,started", "started", TRUE },
  { "error", OP_START, STARTED, "starting,started", "started", TRUE },
  { EXPIRED, OP_START, STARTED, "starting,started", "started", TRUE },

  /* stop: a no-op when stopped or unknown; otherwise stopping, then stopped */
  { ABSENT, OP_STOP, STOPPED, "", "destroyed", FALSE },
  { "creating", OP_STOP, STOPPED, "stopping,stopped", "stopped", TRUE },
  { "pulling_snapshot", OP_STOP, STOPPED, "stopping,stopped", "stopped", TRUE },
  { "starting", OP_STOP, STOPPED, "stopping,stopped", "stopped", TRUE },
  { "started", OP_STOP, STOPPED, "stopping,stopped", "stopped", TRUE },
  { "stopping", OP_STOP, STOPPED, "stopped", "stopped", TRUE },
  { "stopped", OP_STOP, STOPPED, "", "stopped", TRUE },
  { "resizing", OP_STOP, STOPPED, "stopping,stopped", "stopped", TRUE },
  { "destroying", OP_STOP, STOPPED, "stopping,stopped", "stopped", TRUE },
  { "error", OP_STOP, STOPPED, "stopping,stopped", "stopped", TRUE },
  { EXPIRED, OP_STOP, STOPPED, "stopping,stopped", "stopped", TRUE },

  /* destroy: idempotent (unknown ids count as destroyed, destroying is left alone);
   * otherwise destroying, then the record is gone and GET says destroyed */
  { ABSENT, OP_DESTROY, DESTROYED, "", "destroyed", FALSE },
  { "creating", OP_DESTROY, DESTROYED, "destroying,destroyed", "destroyed", FALSE },
  { "pulling_snapshot", OP_DESTROY, DESTROYED, "destroying,destroyed", "destroyed", FALSE },
  { "starting", OP_DESTROY, DESTROYED, "destroying,destroyed", "destroyed", FALSE },
  { "started", OP_DESTROY, DESTROYED, "destroying,destroyed", "destroyed", FALSE },
  { "stopping", OP_DESTROY, DESTROYED, "destroying,destroyed", "destroyed", FALSE },
  { "stopped", OP_DESTROY, DESTROYED, "destroying,destroyed", "destroyed", FALSE },
  { "resizing", OP_DESTROY, DESTROYED, "destroying,destroyed", "destroyed", FALSE },
  { "destroying", OP_DESTROY, DESTROYED, "", "destroying", TRUE },
  { "error", OP_DESTROY, DESTROYED, "destroying,destroyed", "destroyed", FALSE },
  { EXPIRED, OP_DESTROY, DESTROYED, "destroying,destroyed", "destroyed", FALSE },

  /* DELETE: destroy unless destroyed or destroying, always 200 */
  { ABSENT, OP_REMOVE, REMOVED, "", "destroyed", FALSE },
  { "creating", OP_REMOVE, REMOVED, "destroying,destroyed", "destroyed", FALSE },
  { "pulling_snapshot", OP_REMOVE, REMOVED, "destroying,destroyed", "destroyed", FALSE },
  { "starting", OP_REMOVE, REMOVED, "destroying,destroyed", "destroyed", FALSE },
  { "started", OP_REMOVE, REMOVED, "destroying,destroyed", "destroyed", FALSE },
  { "stopping", OP_REMOVE, REMOVED, "destroying,destroyed", "destroyed", FALSE },
  { "stopped", OP_REMOVE, REMOVED, "destroying,destroyed", "destroyed", FALSE },
  { "resizing", OP_REMOVE, REMOVED, "destroying,destroyed", "destroyed", FALSE },
  { "destroying", OP_REMOVE, REMOVED, "", "destroying", TRUE },
  { "error", OP_REMOVE, REMOVED, "destroying,destroyed", "destroyed", FALSE },
  { EXPIRED, OP_REMOVE, REMOVED, "destroying,destroyed", "destroyed", FALSE },

  /* backup: no existence check; the state is unchanged (an expired entry is written
   * back as unknown: a backup write is a cache write) */
  { ABSENT, OP_BACKUP, BACKUP, "", "destroyed", FALSE },
  { "creating", OP_BACKUP, BACKUP, "", "creating", TRUE },
  { "pulling_snapshot", OP_BACKUP, BACKUP, "", "pulling_snapshot", TRUE },
  { "starting", OP_BACKUP, BACKUP, "", "starting", TRUE },
  { "started", OP_BACKUP, BACKUP, "", "started", TRUE },
  { "stopping", OP_BACKUP, BACKUP, "", "stopping", TRUE },
  { "stopped", OP_BACKUP, BACKUP, "", "stopped", TRUE },
  { "resizing", OP_BACKUP, BACKUP, "", "resizing", TRUE },
  { "destroying", OP_BACKUP, BACKUP, "", "destroying", TRUE },
  { "error", OP_BACKUP, BACKUP, "", "error", TRUE },
  { EXPIRED, OP_BACKUP, BACKUP, "unknown", "unknown", TRUE },

  /* resize: resizing, then started whatever the state was; an unknown id is a plain
   * error, so 500 */
  { ABSENT, OP_RESIZE, 500, "INTERNAL_SERVER_ERROR", "", "destroyed", FALSE },
  { "creating", OP_RESIZE, RESIZED, "resizing,started", "started", TRUE },
  { "pulling_snapshot", OP_RESIZE, RESIZED, "resizing,started", "started", TRUE },
  { "starting", OP_RESIZE, RESIZED, "resizing,started", "started", TRUE },
  { "started", OP_RESIZE, RESIZED, "resizing,started", "started", TRUE },
  { "stopping", OP_RESIZE, RESIZED, "resizing,started", "started", TRUE },
  { "stopped", OP_RESIZE, RESIZED, "resizing,started", "started", TRUE },
  { "resizing", OP_RESIZE, RESIZED, "started", "started", TRUE },
  { "destroying", OP_RESIZE, RESIZED, "resizing,started", "started", TRUE },
  { "error", OP_RESIZE, RESIZED, "resizing,started", "started", TRUE },
  { EXPIRED, OP_RESIZE, RESIZED, "resizing,started", "started", TRUE },

  /* recover (June 2026): starts the sandbox; the lenient mode makes one for an unknown id */
  { ABSENT, OP_RECOVER, RECOVERED, "starting,started", "started", TRUE },
  { "creating", OP_RECOVER, RECOVERED, "starting,started", "started", TRUE },
  { "pulling_snapshot", OP_RECOVER, RECOVERED, "starting,started", "started", TRUE },
  { "starting", OP_RECOVER, RECOVERED, "started", "started", TRUE },
  { "started", OP_RECOVER, RECOVERED, "starting,started", "started", TRUE },
  { "stopping", OP_RECOVER, RECOVERED, "starting,started", "started", TRUE },
  { "stopped", OP_RECOVER, RECOVERED, "starting,started", "started", TRUE },
  { "resizing", OP_RECOVER, RECOVERED, "starting,started", "started", TRUE },
  { "destroying", OP_RECOVER, RECOVERED, "starting,started", "started", TRUE },
  { "error", OP_RECOVER, RECOVERED, "starting,started", "started", TRUE },
  { EXPIRED, OP_RECOVER, RECOVERED, "starting,started", "started", TRUE },

  /* network settings: recorded, never applied; no existence check, no state change */
  { ABSENT, OP_NETWORK, NETWORK, "", "destroyed", FALSE },
  { "creating", OP_NETWORK, NETWORK, "", "creating", TRUE },
  { "pulling_snapshot", OP_NETWORK, NETWORK, "", "pulling_snapshot", TRUE },
  { "starting", OP_NETWORK, NETWORK, "", "starting", TRUE },
  { "started", OP_NETWORK, NETWORK, "", "started", TRUE },
  { "stopping", OP_NETWORK, NETWORK, "", "stopping", TRUE },
  { "stopped", OP_NETWORK, NETWORK, "", "stopped", TRUE },
  { "resizing", OP_NETWORK, NETWORK, "", "resizing", TRUE },
  { "destroying", OP_NETWORK, NETWORK, "", "destroying", TRUE },
  { "error", OP_NETWORK, NETWORK, "", "error", TRUE },
  { EXPIRED, OP_NETWORK, NETWORK, "", "unknown", TRUE },

  /* GET: never 404; an unknown id reads destroyed, an expired entry unknown (written back) */
  { ABSENT, OP_GET, INFO, "", "destroyed", FALSE },
  { "creating", OP_GET, INFO, "", "creating", TRUE },
  { "pulling_snapshot", OP_GET, INFO, "", "pulling_snapshot", TRUE },
  { "starting", OP_GET, INFO, "", "starting", TRUE },
  { "started", OP_GET, INFO, "", "started", TRUE },
  { "stopping", OP_GET, INFO, "", "stopping", TRUE },
  { "stopped", OP_GET, INFO, "", "stopped", TRUE },
  { "resizing", OP_GET, INFO, "", "resizing", TRUE },
  { "destroying", OP_GET, INFO, "", "destroying", TRUE },
  { "error", OP_GET, INFO, "", "error", TRUE },
  { EXPIRED, OP_GET, INFO, "unknown", "unknown", TRUE },
};

#define NOT_FOUND 404, "NOT_FOUND"

/* STRICT=true: where it differs from the table above. Unknown ids are 404 where the real
 * runners inspect a missing container; resize keeps the state it found. Create, destroy,
 * DELETE and GET are as lenient (the real runners answer 200 there too). */
static const Row strict[] = {
  { ABSENT, OP_START, NOT_FOUND, "", "destroyed", FALSE },
  { ABSENT, OP_STOP, NOT_FOUND, "", "destroyed", FALSE },
  { ABSENT, OP_BACKUP, NOT_FOUND, "", "destroyed", FALSE },
  { ABSENT, OP_RESIZE, NOT_FOUND, "", "destroyed", FALSE },
  { ABSENT, OP_RECOVER, NOT_FOUND, "", "destroyed", FALSE },
  { ABSENT, OP_NETWORK, NOT_FOUND, "", "destroyed", FALSE },
  { "creating", OP_RESIZE, RESIZED, "resizing,creating", "creating", TRUE },
  { "pulling_snapshot", OP_RESIZE, RESIZED, "resizing,pulling_snapshot", "pulling_snapshot", TRUE },
  { "starting", OP_RESIZE, RESIZED, "resizing,starting", "starting", TRUE },
  { "started", OP_RESIZE, RESIZED, "resizing,started", "started", TRUE },
  { "stopping", OP_RESIZE, RESIZED, "resizing,stopping", "stopping", TRUE },
  { "stopped", OP_RESIZE, RESIZED, "resizing,stopped", "stopped", TRUE },
  { "resizing", OP_RESIZE, RESIZED, "", "resizing", TRUE },
  { "destroying", OP_RESIZE, RESIZED, "resizing,destroying", "destroying", TRUE },
  { "error", OP_RESIZE, RESIZED, "resizing,error", "error", TRUE },
  { EXPIRED, OP_RESIZE, RESIZED, "resizing,unknown", "unknown", TRUE },
};

/* The states a runner signals, recorded on its server thread. */
typedef struct {
  GMutex lock;
  GString *via;
} Recorder;

static void
on_state_changed (MrRunner *runner, const char *id, MrSandboxState old_state, MrSandboxState new_state,
                  Recorder *rec)
{
  g_mutex_lock (&rec->lock);
  if (rec->via->len)
    g_string_append_c (rec->via, ',');
  g_string_append (rec->via, mr_sandbox_state_to_string (new_state));
  g_mutex_unlock (&rec->lock);
}

static char *
recorded (Recorder *rec)
{
  char *out;

  g_mutex_lock (&rec->lock);
  out = g_strdup (rec->via->str);
  g_string_truncate (rec->via, 0);
  g_mutex_unlock (&rec->lock);
  return out;
}

static MrRunner *
start_runner (gboolean strict_mode, Recorder *rec)
{
  MrRunner *runner = mr_runner_new ();
  g_autoptr(GError) error = NULL;

  if (strict_mode)
    mr_runner_set_option (runner, "STRICT", "true");
  g_assert_cmpuint (mr_runner_start (runner, &error), !=, 0);
  g_assert_no_error (error);
  g_mutex_init (&rec->lock);
  rec->via = g_string_new (NULL);
  g_signal_connect (runner, "sandbox-state-changed", G_CALLBACK (on_state_changed), rec);
  return runner;
}

static void
stop_runner (MrRunner *runner, Recorder *rec)
{
  g_signal_handlers_disconnect_by_data (runner, rec);
  g_object_unref (runner);
  g_string_free (rec->via, TRUE);
  g_mutex_clear (&rec->lock);
}

/* Puts ID in the row's starting state, from a reset runner. */
static void
arrange (MrRunner *runner, const char *from)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *doc = NULL;

  mr_runner_reset (runner);
  if (strcmp (from, ABSENT) == 0)
    return;
  doc = g_strdup_printf ("{\"version\":1,\"sandboxes\":[{\"id\":\"" ID "\",\"state\":\"%s\",\"backupState\":\"NONE\","
                         "\"userId\":\"u\",\"snapshot\":\"ubuntu:22.04\",\"osUser\":\"daytona\",\"cpuQuota\":1,"
                         "\"memoryQuota\":1,\"storageQuota\":3}]}",
                         strcmp (from, EXPIRED) == 0 ? "started" : from);
  g_assert_true (mr_runner_import_state (runner, doc, &error));
  g_assert_no_error (error);
  if (strcmp (from, EXPIRED) == 0)
    g_assert_true (mr_runner_advance_clock (runner, 8 * G_TIME_SPAN_DAY, NULL));
}

/* The plugin's record of ID, from the state export; NULL if it holds none. */
static JsonObject *
exported_record (MrRunner *runner, JsonNode **root)
{
  g_autofree char *json = mr_runner_export_state (runner);
  JsonArray *sandboxes;

  *root = json_from_string (json, NULL);
  g_assert_nonnull (*root);
  sandboxes = json_object_get_array_member (json_node_get_object (*root), "sandboxes");
  for (guint i = 0; i < json_array_get_length (sandboxes); i++)
    {
      JsonObject *s = json_array_get_object_element (sandboxes, i);
      if (strcmp (json_object_get_string_member (s, "id"), ID) == 0)
        return s;
    }
  return NULL;
}

/* Every mismatch of a table is collected, so that one run shows them all. */
static void
check_reply (const Row *row, const MrTestReply *reply, const char *label, GString *failures)
{
  g_autoptr(JsonNode) node = NULL;
  JsonObject *o;

  if (reply->status != row->status)
    {
      g_string_append_printf (failures, "%s: status %u, expected %u (%s)\n", label, reply->status, row->status,
                              reply->body);
      return;
    }
  if (row->reply == NULL)
    return;
  if (row->reply[0] == '"')
    {
      if (g_strcmp0 (reply->body, row->reply) != 0)
        g_string_append_printf (failures, "%s: reply %s, expected %s\n", label, reply->body, row->reply);
      return;
    }
  node = json_from_string (reply->body, NULL);
  o = node && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
  if (strcmp (row->reply, DAEMON_VERSION) == 0)
    {
      if (o == NULL || !json_object_has_member (o, "daemonVersion"))
        g_string_append_printf (failures, "%s: reply %s, expected {daemonVersion}\n", label, reply->body);
      return;
    }
  /* an error: the common body, with the row's code */
  if (o == NULL || g_strcmp0 (json_object_get_string_member_with_default (o, "code", NULL), row->reply) != 0 ||
      json_object_get_int_member_with_default (o, "statusCode", 0) != row->status)
    g_string_append_printf (failures, "%s: reply %s, expected code %s\n", label, reply->body, row->reply);
}

static void
run_row (MrRunner *runner, Recorder *rec, const Row *row, gboolean strict_mode, GString *failures)
{
  g_autofree char *label = g_strdup_printf ("%s%s from %s", strict_mode ? "STRICT " : "", ops[row->op].name,
                                            row->from);
  g_autofree char *path = g_strconcat ("/sandboxes", ops[row->op].path, NULL);
  g_autofree char *create = mr_test_create_json (ID);
  g_autofree char *via = NULL;
  g_autofree char *to = NULL;
  g_autoptr(JsonNode) root = NULL;
  JsonObject *record;

  arrange (runner, row->from);
  g_free (recorded (rec));
  {
    g_auto(MrTestReply) reply = mr_test_http (runner, ops[row->op].method, path,
                                              row->op == OP_CREATE ? create : ops[row->op].body);
    check_reply (row, &reply, label, failures);
  }
  via = recorded (rec);
  if (strcmp (via, row->via) != 0)
    g_string_append_printf (failures, "%s: went through \"%s\", expected \"%s\"\n", label, via, row->via);
  to = mr_test_state (runner, ID);
  if (strcmp (to, row->to) != 0)
    g_string_append_printf (failures, "%s: ended %s, expected %s\n", label, to, row->to);
  record = exported_record (runner, &root);
  if ((record != NULL) != row->held)
    g_string_append_printf (failures, "%s: the plugin %s a record\n", label, record ? "holds" : "does not hold");
  /* a backup of a held sandbox completes at once with the immediate timing */
  if (row->op == OP_BACKUP && record &&
      g_strcmp0 (json_object_get_string_member (record, "backupState"), "COMPLETED") != 0)
    g_string_append_printf (failures, "%s: backup %s, expected COMPLETED\n", label,
                            json_object_get_string_member (record, "backupState"));
}

static const Row *
find_row (const Row *table, gsize n, const char *from, Op op)
{
  for (gsize i = 0; i < n; i++)
    if (table[i].op == op && strcmp (table[i].from, from) == 0)
      return &table[i];
  return NULL;
}

static const char *const from_states[] = {
  ABSENT, "creating", "pulling_snapshot", "starting", "started", "stopping", "stopped", "resizing", "destroying",
  "error", EXPIRED,
};

/* The table is complete: every starting state with every operation. */
static void
test_table_is_complete (void)
{
  for (guint s = 0; s < G_N_ELEMENTS (from_states); s++)
    for (Op op = 0; op < N_OPS; op++)
      if (find_row (lenient, G_N_ELEMENTS (lenient), from_states[s], op) == NULL)
        g_error ("no row for %s from %s", ops[op].name, from_states[s]);
  g_assert_cmpuint (G_N_ELEMENTS (lenient), ==, G_N_ELEMENTS (from_states) * N_OPS);
}

static void
run_table (gboolean strict_mode)
{
  Recorder rec;
  MrRunner *runner = start_runner (strict_mode, &rec);
  g_autoptr(GString) failures = g_string_new (NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (lenient); i++)
    {
      const Row *row = &lenient[i];
      const Row *override = strict_mode ? find_row (strict, G_N_ELEMENTS (strict), row->from, row->op) : NULL;
      run_row (runner, &rec, override ? override : row, strict_mode, failures);
    }
  stop_runner (runner, &rec);
  if (failures->len)
    g_error ("the state machine disagrees with the table:\n%s", failures->str);
}

static void
test_lenient (void)
{
  run_table (FALSE);
}

static void
test_strict (void)
{
  run_table (TRUE);
}

/* The error bodies a client sees for an unknown sandbox. */
static void
test_unknown_sandbox_messages (void)
{
  Recorder rec;
  MrRunner *lenient_runner = start_runner (FALSE, &rec);
  Recorder strict_rec;
  MrRunner *strict_runner = start_runner (TRUE, &strict_rec);
  g_autoptr(JsonNode) a = NULL;
  g_autoptr(JsonNode) b = NULL;

  {
    g_auto(MrTestReply) reply = mr_test_http (lenient_runner, "POST", "/sandboxes/ghost/resize", "{\"cpu\":2}");
    a = json_from_string (reply.body, NULL);
    g_assert_cmpstr (json_object_get_string_member (json_node_get_object (a), "message"), ==,
                     "sandbox ghost not found");
  }
  {
    g_auto(MrTestReply) reply = mr_test_http (strict_runner, "POST", "/sandboxes/ghost/start", "{}");
    b = json_from_string (reply.body, NULL);
    g_assert_cmpstr (json_object_get_string_member (json_node_get_object (b), "message"), ==,
                     "not found: sandbox container not found: no such container: ghost");
  }
  stop_runner (lenient_runner, &rec);
  stop_runner (strict_runner, &strict_rec);
}

/* The lifecycle the December-2025 API drives, twice over for idempotence: create,
 * create, stop, stop, start, start, destroy, destroy, DELETE, DELETE. */
static void
test_api_lifecycle (void)
{
  static const struct {
    Op op;
    guint status;
    const char *via;
    const char *to;
  } steps[] = {
    { OP_CREATE, 201, "creating,starting,started", "started" },
    { OP_CREATE, 201, "", "started" },
    { OP_STOP, 200, "stopping,stopped", "stopped" },
    { OP_STOP, 200, "", "stopped" },
    { OP_START, 200, "starting,started", "started" },
    { OP_START, 200, "", "started" },
    { OP_DESTROY, 200, "destroying,destroyed", "destroyed" },
    { OP_DESTROY, 200, "", "destroyed" },
    { OP_REMOVE, 200, "", "destroyed" },
    { OP_REMOVE, 200, "", "destroyed" },
    /* a destroyed id can be created again */
    { OP_CREATE, 201, "creating,starting,started", "started" },
  };
  Recorder rec;
  MrRunner *runner = start_runner (FALSE, &rec);
  g_autofree char *create = mr_test_create_json (ID);

  for (guint i = 0; i < G_N_ELEMENTS (steps); i++)
    {
      g_autofree char *path = g_strconcat ("/sandboxes", ops[steps[i].op].path, NULL);
      g_autofree char *via = NULL;
      g_autofree char *to = NULL;

      g_assert_cmpuint (mr_test_status (runner, ops[steps[i].op].method, path,
                                        steps[i].op == OP_CREATE ? create : ops[steps[i].op].body),
                        ==, steps[i].status);
      via = recorded (&rec);
      g_assert_cmpstr (via, ==, steps[i].via);
      to = mr_test_state (runner, ID);
      g_assert_cmpstr (to, ==, steps[i].to);
    }
  stop_runner (runner, &rec);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/state-machine/table-is-complete", test_table_is_complete);
  g_test_add_func ("/state-machine/lenient", test_lenient);
  g_test_add_func ("/state-machine/strict", test_strict);
  g_test_add_func ("/state-machine/unknown-sandbox-messages", test_unknown_sandbox_messages);
  g_test_add_func ("/state-machine/api-lifecycle", test_api_lifecycle);
  return g_test_run ();
}
