/* Lifecycle timing: immediate, delay and manual, globally and per sandbox, from C and
 * over /_mock/timing. */
#include "mr-test-http.h"

static void
on_state (MrRunner *runner, const char *id, MrSandboxState old_state, MrSandboxState new_state, GString *log)
{
  g_string_append_printf (log, "%s:%s;", id, mr_sandbox_state_to_string (new_state));
}

static void
assert_state (MrRunner *r, const char *id, const char *expected)
{
  g_autofree char *state = mr_test_state (r, id);

  g_assert_cmpstr (state, ==, expected);
}

static void
test_immediate_is_default (void)
{
  g_autoptr(MrRunner) r = mr_test_runner_new_started ();
  guint delay = 99;

  g_assert_cmpint (mr_runner_get_timing (r, NULL, &delay), ==, MR_TIMING_MODE_IMMEDIATE);
  g_assert_cmpuint (delay, ==, 0);
  g_assert_cmpuint (mr_test_create (r, "sb-i"), ==, 201);
  assert_state (r, "sb-i", "started");
  g_assert_cmpuint (mr_runner_count_pending_transitions (r, NULL), ==, 0);
}

static void
test_manual (void)
{
  g_autoptr(MrRunner) r = mr_test_runner_new_started ();
  g_autoptr(GString) log = g_string_new (NULL);

  g_signal_connect (r, "sandbox-state-changed", G_CALLBACK (on_state), log);
  mr_runner_set_timing (r, NULL, MR_TIMING_MODE_MANUAL, 0);
  g_assert_cmpuint (mr_test_create (r, "sb-m"), ==, 201);
  assert_state (r, "sb-m", "creating");
  g_assert_cmpuint (mr_runner_count_pending_transitions (r, "sb-m"), ==, 1);
  g_assert_cmpuint (mr_runner_advance (r, "sb-m"), ==, 1);
  assert_state (r, "sb-m", "starting");
  g_assert_cmpuint (mr_runner_advance (r, "sb-m"), ==, 1);
  assert_state (r, "sb-m", "started");
  g_assert_cmpuint (mr_runner_advance (r, "sb-m"), ==, 0);
  g_assert_cmpstr (log->str, ==, "sb-m:creating;sb-m:starting;sb-m:started;");

  /* stop: stopping until advanced */
  g_assert_cmpuint (mr_test_status (r, "POST", "/sandboxes/sb-m/stop", "{}"), ==, 200);
  assert_state (r, "sb-m", "stopping");
  g_assert_cmpuint (mr_runner_advance (r, NULL), ==, 1);
  assert_state (r, "sb-m", "stopped");

  /* destroy: destroying, then gone */
  g_assert_cmpuint (mr_test_status (r, "POST", "/sandboxes/sb-m/destroy", "{}"), ==, 200);
  assert_state (r, "sb-m", "destroying");
  g_assert_cmpuint (mr_runner_advance (r, "sb-m"), ==, 1);
  assert_state (r, "sb-m", "destroyed");
}

static void
test_advance_all_one_step_each (void)
{
  g_autoptr(MrRunner) r = mr_test_runner_new_started ();

  mr_runner_set_timing (r, NULL, MR_TIMING_MODE_MANUAL, 0);
  g_assert_cmpuint (mr_test_create (r, "sb-1"), ==, 201);
  g_assert_cmpuint (mr_test_create (r, "sb-2"), ==, 201);
  g_assert_cmpuint (mr_runner_advance (r, NULL), ==, 2);
  assert_state (r, "sb-1", "starting");
  assert_state (r, "sb-2", "starting");
  g_assert_cmpuint (mr_runner_advance (r, NULL), ==, 2);
  assert_state (r, "sb-1", "started");
  assert_state (r, "sb-2", "started");
}

static void
test_per_sandbox (void)
{
  g_autoptr(MrRunner) r = mr_test_runner_new_started ();
  guint delay = 0;

  /* set before the sandbox exists */
  mr_runner_set_timing (r, "sb-slow", MR_TIMING_MODE_MANUAL, 0);
  g_assert_cmpint (mr_runner_get_timing (r, "sb-slow", NULL), ==, MR_TIMING_MODE_MANUAL);
  g_assert_cmpint (mr_runner_get_timing (r, "sb-fast", &delay), ==, MR_TIMING_MODE_IMMEDIATE);
  g_assert_cmpuint (mr_test_create (r, "sb-fast"), ==, 201);
  g_assert_cmpuint (mr_test_create (r, "sb-slow"), ==, 201);
  assert_state (r, "sb-fast", "started");
  assert_state (r, "sb-slow", "creating");
  /* back to the global (immediate) timing: what waits completes */
  mr_runner_unset_timing (r, "sb-slow");
  assert_state (r, "sb-slow", "started");
  g_assert_cmpuint (mr_runner_count_pending_transitions (r, NULL), ==, 0);
}

static void
test_switch_to_immediate_completes_waiting (void)
{
  g_autoptr(MrRunner) r = mr_test_runner_new_started ();

  mr_runner_set_timing (r, NULL, MR_TIMING_MODE_MANUAL, 0);
  g_assert_cmpuint (mr_test_create (r, "sb-s"), ==, 201);
  assert_state (r, "sb-s", "creating");
  mr_runner_set_timing (r, NULL, MR_TIMING_MODE_IMMEDIATE, 0);
  assert_state (r, "sb-s", "started");
}

typedef struct {
  GMutex lock;
  GCond cond;
  gboolean started;
} WaitStarted;

static void
on_started (MrRunner *runner, const char *id, MrSandboxState old_state, MrSandboxState new_state, WaitStarted *w)
{
  if (new_state != MR_SANDBOX_STATE_STARTED)
    return;
  g_mutex_lock (&w->lock);
  w->started = TRUE;
  g_cond_signal (&w->cond);
  g_mutex_unlock (&w->lock);
}

static void
test_delay (void)
{
  g_autoptr(MrRunner) r = mr_test_runner_new_started ();
  WaitStarted w = { 0 };
  gint64 start, deadline;

  /* long enough that nothing completes by itself during the checks */
  mr_runner_set_timing (r, NULL, MR_TIMING_MODE_DELAY, 60 * 1000);
  g_assert_cmpuint (mr_test_create (r, "sb-d"), ==, 201);
  assert_state (r, "sb-d", "creating");
  /* advance skips the wait */
  g_assert_cmpuint (mr_runner_advance (r, "sb-d"), ==, 1);
  assert_state (r, "sb-d", "starting");

  /* a short delay completes by itself (each step takes at least the delay) */
  g_mutex_init (&w.lock);
  g_cond_init (&w.cond);
  g_signal_connect (r, "sandbox-state-changed", G_CALLBACK (on_started), &w);
  start = g_get_monotonic_time ();
  mr_runner_set_timing (r, NULL, MR_TIMING_MODE_DELAY, 50);
  deadline = start + 10 * G_TIME_SPAN_SECOND;
  g_mutex_lock (&w.lock);
  while (!w.started)
    if (!g_cond_wait_until (&w.cond, &w.lock, deadline))
      break;
  g_mutex_unlock (&w.lock);
  g_assert_true (w.started);
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 50 * 1000);
  assert_state (r, "sb-d", "started");
  g_signal_handlers_disconnect_by_data (r, &w);
  g_mutex_clear (&w.lock);
  g_cond_clear (&w.cond);
}

static void
test_reset_drops_waiting_and_restores_baseline (void)
{
  g_autoptr(MrRunner) r = mr_runner_new ();
  guint delay = 0;

  g_object_set (r, "timing-mode", MR_TIMING_MODE_DELAY, "timing-delay", 60000, NULL);
  g_assert_cmpuint (mr_runner_start (r, NULL), !=, 0);
  g_assert_cmpint (mr_runner_get_timing (r, NULL, &delay), ==, MR_TIMING_MODE_DELAY);
  g_assert_cmpuint (delay, ==, 60000);
  mr_runner_set_timing (r, NULL, MR_TIMING_MODE_MANUAL, 0);
  mr_runner_set_timing (r, "sb-x", MR_TIMING_MODE_IMMEDIATE, 0);
  g_assert_cmpuint (mr_test_create (r, "sb-w"), ==, 201);
  g_assert_cmpuint (mr_runner_count_pending_transitions (r, NULL), ==, 1);
  mr_runner_reset (r);
  g_assert_cmpuint (mr_runner_count_pending_transitions (r, NULL), ==, 0);
  assert_state (r, "sb-w", "destroyed");
  g_assert_cmpint (mr_runner_get_timing (r, NULL, &delay), ==, MR_TIMING_MODE_DELAY);
  g_assert_cmpuint (delay, ==, 60000);
  g_assert_cmpint (mr_runner_get_timing (r, "sb-x", NULL), ==, MR_TIMING_MODE_DELAY);
}

/* Stopping while a transition waits: the runner stops cleanly, nothing leaks. */
static void
test_stop_with_waiting (void)
{
  g_autoptr(MrRunner) r = mr_test_runner_new_started ();

  mr_runner_set_timing (r, NULL, MR_TIMING_MODE_DELAY, 60000);
  g_assert_cmpuint (mr_test_create (r, "sb-q"), ==, 201);
  mr_runner_stop (r);
  g_assert_false (mr_runner_is_running (r));
}

/* Stopping with transitions waiting releases the plugins (the transitions hold
 * references on the sandbox plugin), and a runner's plugins do not outlive it. */
static void
test_stop_releases_plugins (void)
{
  MrRunner *r = mr_test_runner_new_started ();
  GObject *sandboxes = G_OBJECT (mr_runner_get_sandbox_backend (r));
  GObject *images = G_OBJECT (mr_runner_get_image_backend (r));

  g_object_add_weak_pointer (sandboxes, (gpointer *) &sandboxes);
  g_object_add_weak_pointer (images, (gpointer *) &images);
  mr_runner_set_timing (r, NULL, MR_TIMING_MODE_MANUAL, 0);
  g_assert_cmpuint (mr_test_create (r, "sb-p"), ==, 201);
  g_assert_cmpuint (mr_runner_count_pending_transitions (r, NULL), ==, 1);
  mr_runner_stop (r);
  g_assert_null (sandboxes);
  g_assert_null (images);
  g_object_unref (r);
}

static void
test_http (void)
{
  g_autoptr(MrRunner) r = mr_test_runner_new_started ();
  g_autoptr(JsonNode) node = NULL;
  JsonObject *o;

  g_assert_cmpuint (mr_test_status (r, "PUT", "/_mock/timing", "{\"mode\":\"manual\"}"), ==, 200);
  g_assert_cmpuint (mr_test_status (r, "PUT", "/_mock/timing/sb-h2", "{\"mode\":\"delay\",\"delayMs\":60000}"),
                    ==, 200);
  g_assert_cmpuint (mr_test_create (r, "sb-h"), ==, 201);
  {
    g_auto(MrTestReply) reply = mr_test_http (r, "GET", "/_mock/timing", NULL);
    g_assert_cmpuint (reply.status, ==, 200);
    node = json_from_string (reply.body, NULL);
  }
  o = json_node_get_object (node);
  g_assert_cmpstr (json_object_get_string_member (o, "mode"), ==, "manual");
  g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (
                     json_object_get_object_member (o, "sandboxes"), "sb-h2"), "delayMs"), ==, 60000);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (o, "pending")), ==, 1);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (
                     json_object_get_array_member (o, "pending"), 0), "target"), ==, "starting");
  {
    g_auto(MrTestReply) reply = mr_test_http (r, "POST", "/_mock/timing/advance", "{\"sandboxId\":\"sb-h\"}");
    g_autoptr(JsonNode) n = json_from_string (reply.body, NULL);
    g_assert_cmpuint (reply.status, ==, 200);
    g_assert_cmpint (json_object_get_int_member (json_node_get_object (n), "advanced"), ==, 1);
  }
  assert_state (r, "sb-h", "starting");
  g_assert_cmpuint (mr_test_status (r, "POST", "/_mock/timing/advance", NULL), ==, 200);
  assert_state (r, "sb-h", "started");
  g_assert_cmpuint (mr_test_status (r, "DELETE", "/_mock/timing/sb-h2", NULL), ==, 204);
  g_assert_cmpint (mr_runner_get_timing (r, "sb-h2", NULL), ==, MR_TIMING_MODE_MANUAL);

  /* bad input */
  g_assert_cmpuint (mr_test_status (r, "PUT", "/_mock/timing", "{\"mode\":\"slowly\"}"), ==, 400);
  g_assert_cmpuint (mr_test_status (r, "PUT", "/_mock/timing", "{\"mode\":\"delay\"}"), ==, 400);
  g_assert_cmpuint (mr_test_status (r, "PUT", "/_mock/timing", "{\"mode\":\"delay\",\"delayMs\":-5}"), ==, 400);
  g_assert_cmpuint (mr_test_status (r, "PUT", "/_mock/timing", "nope"), ==, 400);
  g_assert_cmpuint (mr_test_status (r, "PUT", "/_mock/timing", NULL), ==, 400);
  g_assert_cmpuint (mr_test_status (r, "POST", "/_mock/timing/advance", "{\"sandboxId\":5}"), ==, 400);
}

static void
test_timing_option (void)
{
  g_autoptr(MrRunner) good = mr_runner_new ();
  g_autoptr(MrRunner) bad = mr_runner_new ();
  g_autoptr(GError) error = NULL;
  guint delay = 0;

  mr_runner_set_option (good, "MOCK_RUNNER_TIMING", "delay:250");
  g_assert_cmpuint (mr_runner_start (good, &error), !=, 0);
  g_assert_no_error (error);
  g_assert_cmpint (mr_runner_get_timing (good, NULL, &delay), ==, MR_TIMING_MODE_DELAY);
  g_assert_cmpuint (delay, ==, 250);

  mr_runner_set_option (bad, "MOCK_RUNNER_TIMING", "delay");
  g_assert_cmpuint (mr_runner_start (bad, &error), ==, 0);
  g_assert_error (error, MR_ERROR, MR_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, "MOCK_RUNNER_TIMING"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/timing/immediate-is-default", test_immediate_is_default);
  g_test_add_func ("/timing/manual", test_manual);
  g_test_add_func ("/timing/advance-all-one-step-each", test_advance_all_one_step_each);
  g_test_add_func ("/timing/per-sandbox", test_per_sandbox);
  g_test_add_func ("/timing/switch-to-immediate-completes-waiting", test_switch_to_immediate_completes_waiting);
  g_test_add_func ("/timing/delay", test_delay);
  g_test_add_func ("/timing/reset-drops-waiting-and-restores-baseline", test_reset_drops_waiting_and_restores_baseline);
  g_test_add_func ("/timing/stop-with-waiting", test_stop_with_waiting);
  g_test_add_func ("/timing/stop-releases-plugins", test_stop_releases_plugins);
  g_test_add_func ("/timing/http", test_http);
  g_test_add_func ("/timing/option", test_timing_option);
  return g_test_run ();
}
