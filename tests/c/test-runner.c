/* MrRunner embedded: two runners side by side, start errors, stop, tokens. */
#include <string.h>

#include "mock-runner.h"
#include "mr-test-http.h"

static guint
http_get (const char *url, const char *path, const char *token, char **body)
{
  g_autoptr(SoupSession) session = soup_session_new ();
  g_autofree char *full = g_strconcat (url, path, NULL);
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", full);
  g_autoptr(GBytes) bytes = NULL;

  if (token)
    {
      g_autofree char *value = g_strconcat ("Bearer ", token, NULL);
      soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", value);
    }
  bytes = soup_session_send_and_read (session, msg, NULL, NULL);
  if (body)
    *body = bytes ? g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes)) : NULL;
  return soup_message_get_status (msg);
}

static void
test_two_runners (void)
{
  g_autoptr(MrRunner) a = mr_runner_new ();
  g_autoptr(MrRunner) b = mr_runner_new ();
  g_autoptr(GError) error = NULL;
  guint16 pa, pb;
  g_autofree char *body = NULL;

  pa = mr_runner_start (a, &error);
  g_assert_no_error (error);
  pb = mr_runner_start (b, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (pa, !=, 0);
  g_assert_cmpuint (pb, !=, 0);
  g_assert_cmpuint (pa, !=, pb);
  g_assert_cmpstr (mr_runner_get_token (a), !=, mr_runner_get_token (b));

  g_assert_cmpuint (http_get (mr_runner_get_url (a), "/info", mr_runner_get_token (a), &body), ==, 200);
  g_assert_nonnull (strstr (body, "\"appVersion\""));
  /* one runner's token is not the other's */
  g_assert_cmpuint (http_get (mr_runner_get_url (b), "/info", mr_runner_get_token (a), NULL), ==, 401);

  mr_runner_stop (a);
  g_assert_false (mr_runner_is_running (a));
  g_assert_cmpuint (http_get (mr_runner_get_url (b), "/", NULL, NULL), ==, 200);
  /* a stopped runner can start again */
  g_assert_cmpuint (mr_runner_start (a, &error), !=, 0);
  g_assert_no_error (error);
}

static void
test_port_in_use (void)
{
  g_autoptr(MrRunner) a = mr_runner_new ();
  g_autoptr(MrRunner) b = mr_runner_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *port = NULL;
  guint16 pa = mr_runner_start (a, &error);

  g_assert_no_error (error);
  port = g_strdup_printf ("%u", pa);
  g_assert_true (mr_runner_configure (b, "API_PORT", port, NULL));
  g_assert_cmpuint (mr_runner_start (b, &error), ==, 0);
  g_assert_error (error, MR_ERROR, MR_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, "already in use"));
  g_assert_false (mr_runner_is_running (b));
}

static void
test_bad_plugin (void)
{
  g_autoptr(MrRunner) r = mr_runner_new ();
  g_autoptr(GError) error = NULL;

  g_object_set (r, "sandbox-backend", "sandbox-does-not-exist", NULL);
  g_assert_cmpuint (mr_runner_start (r, &error), ==, 0);
  g_assert_error (error, MR_ERROR, MR_ERROR_PLUGIN);
  g_assert_nonnull (strstr (error->message, "sandbox-does-not-exist"));
}

static void
on_state (MrRunner *runner, const char *id, MrSandboxState old_state, MrSandboxState new_state, GString *log)
{
  g_string_append_printf (log, "%s:%s->%s;", id, mr_sandbox_state_to_string (old_state),
                          mr_sandbox_state_to_string (new_state));
}

static void
test_state_signal (void)
{
  g_autoptr(MrRunner) r = mr_runner_new ();
  g_autoptr(GString) log = g_string_new (NULL);
  g_autoptr(MrSandbox) spec = mr_sandbox_new ("sig-1");

  g_signal_connect (r, "sandbox-state-changed", G_CALLBACK (on_state), log);
  g_assert_cmpuint (mr_runner_start (r, NULL), !=, 0);
  spec->snapshot = g_strdup ("busybox:1");
  /* called from this thread while the server thread is idle: plugin calls are not
   * thread-safe in general, but nothing else runs here */
  g_assert_true (mr_sandbox_backend_create (mr_runner_get_sandbox_backend (r), spec, NULL));
  g_assert_cmpstr (log->str, ==,
                   "sig-1:unknown->creating;sig-1:creating->starting;sig-1:starting->started;");
}

/* mock_runner_http_requests_total counts each method, route and status apart, also when
 * requests of different kinds alternate or follow each other. */
static void
test_request_counts (void)
{
  g_autoptr(MrRunner) r = mr_test_runner_new_started ();
  g_auto(MrTestReply) metrics = { 0 };
  const char *const sequence[][2] = {
    { "GET", "/" }, { "GET", "/" }, { "GET", "/sandboxes/a" }, { "GET", "/" }, { "GET", "/nope" },
    { "GET", "/sandboxes/b" }, { "DELETE", "/sandboxes/a" }, { "GET", "/nope" }, { "GET", "/" },
  };
  const char *const expected[] = {
    "mock_runner_http_requests_total{code=\"200\",method=\"GET\",route=\"/\"} 4\n",
    "mock_runner_http_requests_total{code=\"200\",method=\"GET\",route=\"/sandboxes/{id}\"} 2\n",
    "mock_runner_http_requests_total{code=\"404\",method=\"GET\",route=\"unmatched\"} 2\n",
  };

  for (guint i = 0; i < G_N_ELEMENTS (sequence); i++)
    mr_test_status (r, sequence[i][0], sequence[i][1], NULL);
  /* the same route and method, another status */
  g_assert_cmpuint (mr_test_create (r, "sb-counted"), ==, 201);
  g_assert_cmpuint (mr_test_status (r, "POST", "/sandboxes", "{}"), ==, 400);
  g_assert_cmpuint (mr_test_status (r, "POST", "/sandboxes", "{}"), ==, 400);
  metrics = mr_test_http (r, "GET", "/metrics", NULL);
  g_assert_cmpuint (metrics.status, ==, 200);
  for (guint i = 0; i < G_N_ELEMENTS (expected); i++)
    g_assert_nonnull (strstr (metrics.body, expected[i]));
  g_assert_nonnull (strstr (metrics.body, "method=\"DELETE\",route=\"/sandboxes/{id}\"} 1\n"));
  g_assert_nonnull (strstr (metrics.body, "{code=\"201\",method=\"POST\",route=\"/sandboxes\"} 1\n"));
  g_assert_nonnull (strstr (metrics.body, "{code=\"400\",method=\"POST\",route=\"/sandboxes\"} 2\n"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/runner/two-runners", test_two_runners);
  g_test_add_func ("/runner/port-in-use", test_port_in_use);
  g_test_add_func ("/runner/bad-plugin", test_bad_plugin);
  g_test_add_func ("/runner/state-signal", test_state_signal);
  g_test_add_func ("/runner/request-counts", test_request_counts);
  return g_test_run ();
}
