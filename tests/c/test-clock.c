/* The runner's clock: the offset a test advances instead of sleeping, what reads it (the
 * sandbox state cache of CACHE_RETENTION_DAYS, SSH access tokens, sandbox timestamps), and
 * /_mock/clock. */
#include <stdlib.h>

#include "mr-test-http.h"

#define DAY G_TIME_SPAN_DAY
#define SEC G_TIME_SPAN_SECOND

static void
assert_state (MrRunner *r, const char *id, const char *expected)
{
  g_autofree char *state = mr_test_state (r, id);

  g_assert_cmpstr (state, ==, expected);
}

static void
advance (MrRunner *r, gint64 usec)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (mr_runner_advance_clock (r, usec, &error));
  g_assert_no_error (error);
}

static JsonObject *
reply_object (MrTestReply *reply, JsonNode **node)
{
  *node = json_from_string (reply->body, NULL);
  g_assert_nonnull (*node);
  return json_node_get_object (*node);
}

static void
test_offset (void)
{
  g_autoptr(MrRunner) r = mr_runner_new ();
  g_autoptr(GError) error = NULL;
  gint64 before, now;

  /* the real time until a test advances it, whether the runner runs or not */
  g_assert_cmpint (mr_runner_get_clock_offset (r), ==, 0);
  before = g_get_real_time ();
  now = mr_runner_get_real_time (r);
  g_assert_cmpint (now, >=, before);
  g_assert_cmpint (now, <=, g_get_real_time ());
  before = g_get_monotonic_time ();
  now = mr_runner_get_monotonic_time (r);
  g_assert_cmpint (now, >=, before);
  g_assert_cmpint (now, <=, g_get_monotonic_time ());

  advance (r, 3 * DAY);
  advance (r, 1);
  g_assert_cmpint (mr_runner_get_clock_offset (r), ==, 3 * DAY + 1);
  before = g_get_real_time ();
  now = mr_runner_get_real_time (r);
  g_assert_cmpint (now - before, >=, 3 * DAY);
  g_assert_cmpint (now - before, <, 3 * DAY + SEC);
  now = mr_runner_get_monotonic_time (r);
  g_assert_cmpint (now - g_get_monotonic_time (), >, 3 * DAY - SEC);

  /* never back, never absurdly far; a refused advance changes nothing */
  g_assert_false (mr_runner_advance_clock (r, -1, &error));
  g_assert_error (error, MR_ERROR, MR_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (mr_runner_advance_clock (r, G_MAXINT64, &error));
  g_assert_error (error, MR_ERROR, MR_ERROR_INVALID_ARGUMENT);
  g_assert_cmpint (mr_runner_get_clock_offset (r), ==, 3 * DAY + 1);
  /* zero is allowed (a no-op) */
  advance (r, 0);
  g_assert_cmpint (mr_runner_get_clock_offset (r), ==, 3 * DAY + 1);
}

/* Two runners in one process: each has its own clock. */
static void
test_two_runners (void)
{
  g_autoptr(MrRunner) a = mr_test_runner_new_started ();
  g_autoptr(MrRunner) b = mr_test_runner_new_started ();

  g_assert_cmpuint (mr_test_create (a, "sb-a"), ==, 201);
  g_assert_cmpuint (mr_test_create (b, "sb-b"), ==, 201);
  advance (a, 8 * DAY);
  g_assert_cmpint (mr_runner_get_clock_offset (b), ==, 0);
  assert_state (a, "sb-a", "unknown");
  assert_state (b, "sb-b", "started");
}

/* The Go mock's state cache, default 7 days: a sandbox nobody polled for that long reads
 * back as unknown. */
static void
test_retention_default (void)
{
  g_autoptr(MrRunner) r = mr_test_runner_new_started ();

  g_assert_cmpuint (mr_test_create (r, "sb-old"), ==, 201);
  g_assert_cmpuint (mr_test_create (r, "sb-young"), ==, 201);
  /* no time passes without an advance: polling never expires anything */
  for (int i = 0; i < 3; i++)
    assert_state (r, "sb-old", "started");

  advance (r, 7 * DAY - SEC);
  assert_state (r, "sb-young", "started");        /* just within: and the read refreshes it */
  advance (r, 2 * SEC);
  assert_state (r, "sb-old", "unknown");          /* 7 days and a second since its last write */
  assert_state (r, "sb-young", "started");        /* 2 s since its read */
  /* the unknown state was written back: it stays unknown, now refreshed */
  assert_state (r, "sb-old", "unknown");
  /* a start brings it back */
  g_assert_cmpuint (mr_test_status (r, "POST", "/sandboxes/sb-old/start", "{}"), ==, 200);
  assert_state (r, "sb-old", "started");
}

/* A read refreshes the period: polled more often than the retention, a sandbox never
 * expires. */
static void
test_read_refreshes (void)
{
  g_autoptr(MrRunner) r = mr_test_runner_new_started ();

  g_assert_cmpuint (mr_test_create (r, "sb-polled"), ==, 201);
  for (int i = 0; i < 4; i++)
    {
      advance (r, 6 * DAY);
      assert_state (r, "sb-polled", "started");     /* 24 days in all */
    }
  advance (r, 7 * DAY + 1);
  assert_state (r, "sb-polled", "unknown");
}

/* CACHE_RETENTION_DAYS=2: a day does not expire the entry, two days do. */
static void
test_retention_setting (void)
{
  g_autoptr(MrRunner) r = mr_runner_new ();
  g_autoptr(GError) error = NULL;

  g_assert_true (mr_runner_configure (r, "CACHE_RETENTION_DAYS", "2", &error));
  g_assert_no_error (error);
  g_assert_cmpuint (mr_runner_start (r, &error), !=, 0);
  g_assert_no_error (error);
  g_assert_cmpuint (mr_test_create (r, "sb-1"), ==, 201);
  g_assert_cmpuint (mr_test_create (r, "sb-2"), ==, 201);
  advance (r, DAY);
  assert_state (r, "sb-1", "started");
  advance (r, DAY);
  assert_state (r, "sb-1", "started");            /* a day since its read */
  assert_state (r, "sb-2", "unknown");            /* two days (and a little) since its create */
}

/* Writes refresh the entry too: a state change (stop) and, as in the Go mock, a backup. */
static void
test_writes_refresh (void)
{
  g_autoptr(MrRunner) r = mr_test_runner_new_started ();

  g_assert_cmpuint (mr_test_create (r, "sb-stop"), ==, 201);
  g_assert_cmpuint (mr_test_create (r, "sb-backup"), ==, 201);
  g_assert_cmpuint (mr_test_create (r, "sb-idle"), ==, 201);
  advance (r, 6 * DAY);
  g_assert_cmpuint (mr_test_status (r, "POST", "/sandboxes/sb-stop/stop", "{}"), ==, 200);
  g_assert_cmpuint (mr_test_status (r, "POST", "/sandboxes/sb-backup/backup",
                                    "{\"registry\":{\"url\":\"r.io\"},\"snapshot\":\"bk:1\"}"), ==, 201);
  advance (r, 2 * DAY);
  assert_state (r, "sb-stop", "stopped");
  assert_state (r, "sb-backup", "started");
  assert_state (r, "sb-idle", "unknown");
  /* a stop of a stopped sandbox writes nothing (the Go mock's no-op): no refresh */
  advance (r, 6 * DAY);
  g_assert_cmpuint (mr_test_status (r, "POST", "/sandboxes/sb-stop/stop", "{}"), ==, 200);
  advance (r, 2 * DAY);
  assert_state (r, "sb-stop", "unknown");
}

/* Reset sets the clock back to the real time, with the state it aged. */
static void
test_reset (void)
{
  g_autoptr(MrRunner) r = mr_test_runner_new_started ();

  advance (r, 30 * DAY);
  mr_runner_reset (r);
  g_assert_cmpint (mr_runner_get_clock_offset (r), ==, 0);
  g_assert_cmpuint (mr_test_create (r, "sb-r"), ==, 201);
  assert_state (r, "sb-r", "started");
}

/* Sandbox timestamps are on the runner's clock. */
static void
test_timestamps (void)
{
  g_autoptr(MrRunner) r = mr_test_runner_new_started ();
  g_autoptr(MrSandbox) s = NULL;
  gint64 before;

  advance (r, 10 * DAY);
  before = g_get_real_time () + 10 * DAY;
  g_assert_cmpuint (mr_test_create (r, "sb-t"), ==, 201);
  s = mr_sandbox_backend_get (mr_runner_get_sandbox_backend (r), "sb-t");
  g_assert_cmpint (s->created_at, >=, before);
  g_assert_cmpint (s->updated_at, >=, s->created_at);
  g_assert_cmpint (s->updated_at, <=, mr_runner_get_real_time (r));
}

/* SSH access tokens expire on the runner's clock: expiresAt is runner time, and the
 * validate route refuses a token once the clock passes it. */
static void
test_ssh_access_expiry (void)
{
  g_autoptr(MrRunner) r = mr_test_runner_new_started ();
  g_autoptr(JsonNode) node = NULL;
  g_autofree char *token = NULL;
  g_autofree char *validate = NULL;
  g_autoptr(GDateTime) expires = NULL;
  gint64 created_runner_time;

  advance (r, 365 * DAY);
  g_assert_cmpuint (mr_test_create (r, "sb-ssh"), ==, 201);
  created_runner_time = mr_runner_get_real_time (r);
  {
    g_auto(MrTestReply) reply = mr_test_http (r, "POST", "/sandboxes/sb-ssh/ssh-access?expiresInMinutes=60", NULL);
    JsonObject *o;
    g_assert_cmpuint (reply.status, ==, 200);
    o = reply_object (&reply, &node);
    token = g_strdup (json_object_get_string_member (o, "token"));
    expires = g_date_time_new_from_iso8601 (json_object_get_string_member (o, "expiresAt"), NULL);
  }
  g_assert_nonnull (expires);
  /* an hour after the runner's now, a year ahead of the real one */
  g_assert_cmpint (llabs (g_date_time_to_unix (expires) - (created_runner_time / SEC + 3600)), <=, 2);

  validate = g_strdup_printf ("/sandboxes/ssh-access/validate?token=%s", token);
  advance (r, 59 * 60 * SEC);
  {
    g_auto(MrTestReply) reply = mr_test_http (r, "GET", validate, NULL);
    g_autoptr(JsonNode) n = NULL;
    g_assert_cmpuint (reply.status, ==, 200);
    g_assert_true (json_object_get_boolean_member (reply_object (&reply, &n), "valid"));
  }
  advance (r, 2 * 60 * SEC);
  {
    g_auto(MrTestReply) reply = mr_test_http (r, "GET", validate, NULL);
    g_autoptr(JsonNode) n = NULL;
    g_assert_cmpuint (reply.status, ==, 200);
    g_assert_false (json_object_get_boolean_member (reply_object (&reply, &n), "valid"));
  }
}

/* GET and POST /_mock/clock */
static void
test_http (void)
{
  g_autoptr(MrRunner) r = mr_test_runner_new_started ();

  {
    g_auto(MrTestReply) reply = mr_test_http (r, "GET", "/_mock/clock", NULL);
    g_autoptr(JsonNode) node = NULL;
    JsonObject *o;
    g_autoptr(GDateTime) now = NULL;
    g_assert_cmpuint (reply.status, ==, 200);
    o = reply_object (&reply, &node);
    g_assert_cmpint (json_object_get_int_member (o, "offsetSeconds"), ==, 0);
    now = g_date_time_new_from_iso8601 (json_object_get_string_member (o, "now"), NULL);
    g_assert_nonnull (now);
    g_assert_cmpint (llabs (g_date_time_to_unix (now) - g_get_real_time () / SEC), <=, 2);
  }
  g_assert_cmpuint (mr_test_create (r, "sb-h"), ==, 201);
  {
    g_auto(MrTestReply) reply = mr_test_http (r, "POST", "/_mock/clock", "{\"advanceSeconds\":604800}");
    g_autoptr(JsonNode) node = NULL;
    JsonObject *o;
    g_autoptr(GDateTime) now = NULL;
    g_assert_cmpuint (reply.status, ==, 200);
    o = reply_object (&reply, &node);
    g_assert_cmpint (json_object_get_int_member (o, "offsetSeconds"), ==, 604800);
    now = g_date_time_new_from_iso8601 (json_object_get_string_member (o, "now"), NULL);
    g_assert_cmpint (llabs (g_date_time_to_unix (now) - g_get_real_time () / SEC - 604800), <=, 2);
  }
  assert_state (r, "sb-h", "unknown");
  /* fractions of a second */
  {
    g_auto(MrTestReply) reply = mr_test_http (r, "POST", "/_mock/clock", "{\"advanceSeconds\":0.25}");
    g_autoptr(JsonNode) node = NULL;
    g_assert_cmpuint (reply.status, ==, 200);
    g_assert_cmpfloat (json_object_get_double_member (reply_object (&reply, &node), "offsetSeconds"), ==, 604800.25);
  }
  g_assert_cmpint (mr_runner_get_clock_offset (r), ==, 604800 * SEC + SEC / 4);

  /* bad input: 400 with the common error body; the clock does not move */
  {
    const char *bad[] = { NULL, "", "nope", "[]", "{}", "{\"advanceSeconds\":-1}", "{\"advanceSeconds\":\"60\"}",
                          "{\"advanceSeconds\":null}", "{\"advanceSeconds\":1e300}", "{\"advanceSeconds\":1,\"days\":2}" };
    for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
      {
        g_auto(MrTestReply) reply = mr_test_http (r, "POST", "/_mock/clock", bad[i]);
        g_autoptr(JsonNode) node = NULL;
        g_assert_cmpuint (reply.status, ==, 400);
        g_assert_cmpstr (json_object_get_string_member (reply_object (&reply, &node), "code"), ==, "BAD_REQUEST");
      }
  }
  g_assert_cmpint (mr_runner_get_clock_offset (r), ==, 604800 * SEC + SEC / 4);

  /* the token, as every /_mock/ route */
  {
    g_auto(MrTestReply) reply = mr_test_http_full (r, "POST", "/_mock/clock", "{\"advanceSeconds\":1}", NULL);
    g_assert_cmpuint (reply.status, ==, 401);
  }
  {
    g_auto(MrTestReply) reply = mr_test_http_full (r, "GET", "/_mock/clock", NULL, "wrong");
    g_assert_cmpuint (reply.status, ==, 401);
  }
  g_assert_cmpint (mr_runner_get_clock_offset (r), ==, 604800 * SEC + SEC / 4);

  /* not journaled */
  {
    g_autoptr(GPtrArray) entries = mr_runner_get_requests (r, NULL, "/_mock/*", NULL);
    g_assert_cmpuint (entries->len, ==, 0);
  }
  /* reset over HTTP sets it back */
  g_assert_cmpuint (mr_test_status (r, "POST", "/_mock/reset", NULL), ==, 204);
  g_assert_cmpint (mr_runner_get_clock_offset (r), ==, 0);
}

typedef struct {
  MrRunner *runner;
  guint n;
} Advancer;

static gpointer
advance_many (gpointer data)
{
  Advancer *a = data;

  for (guint i = 0; i < a->n; i++)
    g_assert_true (mr_runner_advance_clock (a->runner, SEC, NULL));
  return NULL;
}

/* Advanced from several threads while requests are served: no step is lost. */
static void
test_threads (void)
{
  g_autoptr(MrRunner) r = mr_test_runner_new_started ();
  Advancer a = { r, 2000 };
  GThread *threads[4];

  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    threads[i] = g_thread_new ("advance", advance_many, &a);
  g_assert_cmpuint (mr_test_create (r, "sb-th"), ==, 201);
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    g_thread_join (threads[i]);
  g_assert_cmpint (mr_runner_get_clock_offset (r), ==, 4 * 2000 * SEC);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/clock/offset", test_offset);
  g_test_add_func ("/clock/two-runners", test_two_runners);
  g_test_add_func ("/clock/retention-default", test_retention_default);
  g_test_add_func ("/clock/read-refreshes", test_read_refreshes);
  g_test_add_func ("/clock/retention-setting", test_retention_setting);
  g_test_add_func ("/clock/writes-refresh", test_writes_refresh);
  g_test_add_func ("/clock/reset", test_reset);
  g_test_add_func ("/clock/timestamps", test_timestamps);
  g_test_add_func ("/clock/ssh-access-expiry", test_ssh_access_expiry);
  g_test_add_func ("/clock/http", test_http);
  g_test_add_func ("/clock/threads", test_threads);
  return g_test_run ();
}
