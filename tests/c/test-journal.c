/* The request journal: what it records, when, its filters, its cap, and what it leaves out. */
#include "mr-test-http.h"

static MrJournalEntry *
only_entry (MrRunner *runner, const char *method, const char *path, const char *sandbox_id)
{
  g_autoptr(GPtrArray) entries = mr_runner_get_requests (runner, method, path, sandbox_id);

  g_assert_cmpuint (entries->len, ==, 1);
  return mr_journal_entry_copy (entries->pdata[0]);
}

static guint
count (MrRunner *runner, const char *method, const char *path, const char *sandbox_id)
{
  g_autoptr(GPtrArray) entries = mr_runner_get_requests (runner, method, path, sandbox_id);

  return entries->len;
}

static void
test_records_fields (void)
{
  g_autoptr(MrRunner) r = mr_test_runner_new_started ();
  g_autoptr(MrJournalEntry) create = NULL;
  g_autoptr(MrJournalEntry) get = NULL;
  g_autoptr(MrJournalEntry) missing = NULL;
  g_autoptr(GHashTable) headers = NULL;
  g_autofree char *json = mr_test_create_json ("sb-j1");

  g_assert_cmpuint (mr_test_status (r, "POST", "/sandboxes", json), ==, 201);
  g_assert_cmpuint (mr_test_status (r, "GET", "/sandboxes/sb-j1?verbose=1", NULL), ==, 200);
  g_assert_cmpuint (mr_test_status (r, "GET", "/no/such/route", NULL), ==, 404);

  create = only_entry (r, "POST", NULL, NULL);
  g_assert_cmpstr (mr_journal_entry_get_path (create), ==, "/sandboxes");
  g_assert_cmpstr (mr_journal_entry_get_route (create), ==, "/sandboxes");
  g_assert_cmpuint (mr_journal_entry_get_status (create), ==, 201);
  g_assert_cmpuint (mr_journal_entry_get_body_size (create), ==, strlen (json));
  g_assert_true (mr_journal_entry_get_completed (create));
  g_assert_cmpint (mr_journal_entry_get_duration (create), >=, 0);
  g_assert_null (mr_journal_entry_get_sandbox_id (create));
  g_assert_null (mr_journal_entry_get_fault (create));
  g_assert_cmpstr (mr_journal_entry_get_header (create, "content-type"), ==, "application/json");
  /* credentials keep their scheme only */
  g_assert_cmpstr (mr_journal_entry_get_header (create, "Authorization"), ==, "Bearer [redacted]");
  headers = mr_journal_entry_get_headers (create);
  g_assert_cmpstr (g_hash_table_lookup (headers, "authorization"), ==, "Bearer [redacted]");

  get = only_entry (r, "GET", "/sandboxes/*", NULL);
  g_assert_cmpstr (mr_journal_entry_get_sandbox_id (get), ==, "sb-j1");
  g_assert_cmpstr (mr_journal_entry_get_query (get), ==, "verbose=1");
  g_assert_cmpstr (mr_journal_entry_get_route (get), ==, "/sandboxes/{id}");
  g_assert_cmpuint (mr_journal_entry_get_sequence (get), ==, mr_journal_entry_get_sequence (create) + 1);
  g_assert_cmpint (mr_journal_entry_get_time (get), >=, mr_journal_entry_get_time (create));

  missing = only_entry (r, NULL, "/no/*", NULL);
  g_assert_cmpuint (mr_journal_entry_get_status (missing), ==, 404);
  g_assert_null (mr_journal_entry_get_route (missing));
}

static void
test_filters (void)
{
  g_autoptr(MrRunner) r = mr_test_runner_new_started ();

  g_assert_cmpuint (mr_test_create (r, "sb-a"), ==, 201);
  g_assert_cmpuint (mr_test_create (r, "sb-b"), ==, 201);
  g_assert_cmpuint (mr_test_status (r, "POST", "/sandboxes/sb-a/stop", "{}"), ==, 200);
  g_assert_cmpuint (mr_test_status (r, "POST", "/sandboxes/sb-b/stop", "{}"), ==, 200);
  g_assert_cmpuint (mr_test_status (r, "GET", "/sandboxes/sb-a", NULL), ==, 200);

  g_assert_cmpuint (count (r, NULL, NULL, NULL), ==, 5);
  g_assert_cmpuint (count (r, "post", NULL, NULL), ==, 4);
  g_assert_cmpuint (count (r, "*", NULL, NULL), ==, 5);
  g_assert_cmpuint (count (r, NULL, NULL, "sb-a"), ==, 2);
  g_assert_cmpuint (count (r, "POST", NULL, "sb-a"), ==, 1);
  /* a route pattern matches every path of that route */
  g_assert_cmpuint (count (r, NULL, "/sandboxes/{id}/stop", NULL), ==, 2);
  g_assert_cmpuint (count (r, NULL, "/sandboxes/*/stop", NULL), ==, 2);
  g_assert_cmpuint (count (r, NULL, "/sandboxes/sb-b*", NULL), ==, 1);
  g_assert_cmpuint (count (r, NULL, "/sandboxes", NULL), ==, 2);
  g_assert_cmpuint (count (r, "DELETE", NULL, NULL), ==, 0);
}

/* The entry and the signal exist before the client can have a byte of the reply: the
 * handler looks at the client's socket and finds nothing to read yet. */
typedef struct {
  GSocket *client;
  int calls;
  gboolean readable;
  guint status;
} BeforeReply;

static void
on_served_check_socket (MrRunner *runner, MrJournalEntry *entry, BeforeReply *b)
{
  g_autoptr(GPtrArray) entries = mr_runner_get_requests (runner, NULL, NULL, NULL);

  b->calls++;
  b->status = mr_journal_entry_get_status (entry);
  b->readable = (g_socket_condition_check (b->client, G_IO_IN) & G_IO_IN) != 0;
  /* already in the journal, complete */
  g_assert_cmpuint (entries->len, ==, 1);
  g_assert_true (mr_journal_entry_get_completed (entries->pdata[0]));
}

static void
test_before_reply (void)
{
  g_autoptr(MrRunner) r = mr_test_runner_new_started ();
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) conn = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *request = NULL;
  char buffer[4096];
  gssize n;
  BeforeReply b = { 0 };

  conn = g_socket_client_connect_to_host (client, "127.0.0.1", mr_runner_get_port (r), NULL, &error);
  g_assert_no_error (error);
  b.client = g_socket_connection_get_socket (conn);
  g_signal_connect (r, "request-served", G_CALLBACK (on_served_check_socket), &b);
  request = g_strdup_printf ("GET /sandboxes/nope HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                             "Connection: close\r\n\r\n", mr_runner_get_token (r));
  g_assert_true (g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (conn)), request,
                                            strlen (request), NULL, NULL, &error));
  n = g_input_stream_read (g_io_stream_get_input_stream (G_IO_STREAM (conn)), buffer, sizeof buffer - 1, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (n, >, 0);
  buffer[n] = '\0';
  g_assert_true (g_str_has_prefix (buffer, "HTTP/1.1 200"));
  g_assert_cmpint (b.calls, ==, 1);
  g_assert_cmpuint (b.status, ==, 200);
  g_assert_false (b.readable);
}

/* A reply the route answers later (paused): pending in the journal until it is decided,
 * recorded with its final status before the client has it. */
static gpointer
held_request_thread (gpointer data)
{
  MrRunner *r = data;
  g_auto(MrTestReply) reply = mr_test_http (r, "GET", "/sandboxes/any/toolbox/hold", NULL);

  return GUINT_TO_POINTER (reply.status);
}

static void
set_async_toolbox_path (void)
{
  g_autofree char *tests = g_build_filename (g_getenv ("G_TEST_BUILDDIR"), "c", NULL);
  const char *plugins = g_getenv ("MOCK_RUNNER_PLUGIN_PATH");
  g_autofree char *path = plugins ? g_strconcat (tests, ":", plugins, NULL) : g_strdup (tests);

  g_setenv ("MOCK_RUNNER_PLUGIN_PATH", path, TRUE);
}

static MrRunner *
new_async_runner (void)
{
  MrRunner *r = mr_runner_new ();
  g_autoptr(GError) error = NULL;

  g_object_set (r, "toolbox-backend", "toolbox-async-test", NULL);
  mr_runner_set_option (r, "TOOLBOX_ANY_SANDBOX", "true");
  g_assert_cmpuint (mr_runner_start (r, &error), !=, 0);
  g_assert_no_error (error);
  return r;
}

static void
test_async_reply (void)
{
  g_autoptr(MrRunner) r = new_async_runner ();
  g_autoptr(GThread) thread = NULL;
  g_autoptr(MrJournalEntry) idle = NULL;
  g_autoptr(MrJournalEntry) held = NULL;
  gint64 deadline;
  guint pending = 0;

  /* answered from an idle callback */
  g_assert_cmpuint (mr_test_status (r, "GET", "/sandboxes/any/toolbox/later", NULL), ==, 200);
  idle = only_entry (r, NULL, "*/later", NULL);
  g_assert_cmpuint (mr_journal_entry_get_status (idle), ==, 200);
  g_assert_true (mr_journal_entry_get_completed (idle));
  g_assert_cmpstr (mr_journal_entry_get_route (idle), ==, "/sandboxes/{id}/toolbox/*path");

  /* held until released: visible as not completed meanwhile */
  thread = g_thread_new ("held", held_request_thread, r);
  deadline = g_get_monotonic_time () + 10 * G_TIME_SPAN_SECOND;
  while (pending == 0 && g_get_monotonic_time () < deadline)
    {
      g_autoptr(GPtrArray) entries = mr_runner_get_requests (r, NULL, "*/hold", NULL);
      if (entries->len == 1)
        {
          g_assert_false (mr_journal_entry_get_completed (entries->pdata[0]));
          g_assert_cmpuint (mr_journal_entry_get_status (entries->pdata[0]), ==, 0);
          g_assert_cmpint (mr_journal_entry_get_duration (entries->pdata[0]), ==, -1);
          pending = 1;
        }
      else
        g_usleep (5000);
    }
  g_assert_cmpuint (pending, ==, 1);
  g_assert_cmpuint (mr_test_status (r, "POST", "/sandboxes/any/toolbox/release", "{}"), ==, 204);
  g_assert_cmpuint (GPOINTER_TO_UINT (g_thread_join (g_steal_pointer (&thread))), ==, 200);
  held = only_entry (r, NULL, "*/hold", NULL);
  g_assert_cmpuint (mr_journal_entry_get_status (held), ==, 200);
  g_assert_true (mr_journal_entry_get_completed (held));
}

static void
test_cap (void)
{
  g_autoptr(MrRunner) r = mr_runner_new ();
  g_autoptr(GPtrArray) entries = NULL;

  g_object_set (r, "journal-size", 3, NULL);
  g_assert_cmpuint (mr_runner_start (r, NULL), !=, 0);
  for (int i = 0; i < 5; i++)
    {
      g_autofree char *path = g_strdup_printf ("/sandboxes/s%d", i);
      g_assert_cmpuint (mr_test_status (r, "GET", path, NULL), ==, 200);
    }
  entries = mr_runner_get_requests (r, NULL, NULL, NULL);
  g_assert_cmpuint (entries->len, ==, 3);
  g_assert_cmpstr (mr_journal_entry_get_path (entries->pdata[0]), ==, "/sandboxes/s2");
  g_assert_cmpstr (mr_journal_entry_get_path (entries->pdata[2]), ==, "/sandboxes/s4");
  g_assert_cmpuint (mr_runner_get_requests_dropped (r), ==, 2);
}

static void
assert_paths (MrRunner *r, guint first, guint last)
{
  g_autoptr(GPtrArray) entries = mr_runner_get_requests (r, NULL, NULL, NULL);

  g_assert_cmpuint (entries->len, ==, last - first + 1);
  for (guint i = 0; i < entries->len; i++)
    {
      g_autofree char *path = g_strdup_printf ("/sandboxes/s%u", first + i);
      g_assert_cmpstr (mr_journal_entry_get_path (entries->pdata[i]), ==, path);
    }
}

static void
get_range (MrRunner *r, guint first, guint last)
{
  for (guint i = first; i <= last; i++)
    {
      g_autofree char *path = g_strdup_printf ("/sandboxes/s%u", i);
      g_assert_cmpuint (mr_test_status (r, "GET", path, NULL), ==, 200);
    }
}

/* The journal is a ring that grows up to its cap: oldest first across wrap-arounds, and
 * a cap changed while it holds entries keeps the newest. */
static void
test_cap_changes (void)
{
  g_autoptr(MrRunner) r = mr_runner_new ();

  g_object_set (r, "journal-size", 20, NULL);
  g_assert_cmpuint (mr_runner_start (r, NULL), !=, 0);
  get_range (r, 0, 49);
  assert_paths (r, 30, 49);
  g_assert_cmpuint (mr_runner_get_requests_dropped (r), ==, 30);
  g_object_set (r, "journal-size", 5, NULL);
  assert_paths (r, 45, 49);
  get_range (r, 50, 52);
  assert_paths (r, 48, 52);
  g_assert_cmpuint (mr_runner_get_requests_dropped (r), ==, 48);
  g_object_set (r, "journal-size", 40, NULL);
  get_range (r, 53, 90);
  assert_paths (r, 51, 90);
  mr_runner_clear_requests (r);
  assert_paths (r, 1, 0);
  get_range (r, 91, 92);
  assert_paths (r, 91, 92);
}

static void
test_control_routes_left_out (void)
{
  g_autoptr(MrRunner) r = mr_test_runner_new_started ();
  g_auto(MrTestReply) list = { 0 };
  g_autoptr(JsonNode) node = NULL;

  g_assert_cmpuint (mr_test_status (r, "GET", "/", NULL), ==, 200);
  g_assert_cmpuint (mr_test_status (r, "GET", "/_mock/faults", NULL), ==, 200);
  g_assert_cmpuint (mr_test_status (r, "GET", "/_mock/no-such-control", NULL), ==, 404);
  list = mr_test_http (r, "GET", "/_mock/requests", NULL);
  g_assert_cmpuint (list.status, ==, 200);
  node = json_from_string (list.body, NULL);
  g_assert_cmpint (json_object_get_int_member (json_node_get_object (node), "count"), ==, 1);
  g_assert_cmpuint (count (r, NULL, NULL, NULL), ==, 1);
}

static void
test_http_query_and_clear (void)
{
  g_autoptr(MrRunner) r = mr_test_runner_new_started ();
  g_autoptr(JsonNode) node = NULL;
  JsonArray *requests;
  JsonObject *first;

  g_assert_cmpuint (mr_test_create (r, "sb-h"), ==, 201);
  g_assert_cmpuint (mr_test_status (r, "GET", "/sandboxes/sb-h", NULL), ==, 200);
  {
    g_auto(MrTestReply) reply = mr_test_http (r, "GET", "/_mock/requests?method=GET&sandboxId=sb-h", NULL);
    g_assert_cmpuint (reply.status, ==, 200);
    node = json_from_string (reply.body, NULL);
  }
  requests = json_object_get_array_member (json_node_get_object (node), "requests");
  g_assert_cmpuint (json_array_get_length (requests), ==, 1);
  first = json_array_get_object_element (requests, 0);
  g_assert_cmpstr (json_object_get_string_member (first, "path"), ==, "/sandboxes/sb-h");
  g_assert_cmpint (json_object_get_int_member (first, "status"), ==, 200);
  g_assert_cmpstr (json_object_get_string_member (first, "sandboxId"), ==, "sb-h");
  g_assert_true (json_object_get_boolean_member (first, "completed"));

  /* the controls need the token too */
  {
    g_auto(MrTestReply) reply = mr_test_http_full (r, "GET", "/_mock/requests", NULL, NULL);
    g_assert_cmpuint (reply.status, ==, 401);
  }
  g_assert_cmpuint (mr_test_status (r, "DELETE", "/_mock/requests", NULL), ==, 204);
  g_assert_cmpuint (count (r, NULL, NULL, NULL), ==, 0);
  /* sequence numbers go on after a clear */
  g_assert_cmpuint (mr_test_status (r, "GET", "/", NULL), ==, 200);
  {
    g_autoptr(MrJournalEntry) e = only_entry (r, NULL, NULL, NULL);
    g_assert_cmpuint (mr_journal_entry_get_sequence (e), ==, 3);
  }
}

static void
test_reset_clears (void)
{
  g_autoptr(MrRunner) r = mr_test_runner_new_started ();

  g_assert_cmpuint (mr_test_create (r, "sb-r"), ==, 201);
  g_assert_cmpuint (count (r, NULL, NULL, NULL), ==, 1);
  mr_runner_reset (r);
  g_assert_cmpuint (count (r, NULL, NULL, NULL), ==, 0);
  g_assert_cmpuint (mr_test_status (r, "POST", "/_mock/reset", NULL), ==, 204);
}

/* Stopping with a request in flight: the client's connection ends, nothing is reported
 * from the shutdown, and the runner can be dropped. */
static void
count_served (MrRunner *runner, MrJournalEntry *entry, int *calls)
{
  (*calls)++;
}

static void
test_stop_with_request_in_flight (void)
{
  MrRunner *r = new_async_runner ();
  g_autoptr(GThread) thread = NULL;
  gint64 deadline = g_get_monotonic_time () + 10 * G_TIME_SPAN_SECOND;
  gboolean held = FALSE;
  int calls = 0;

  g_signal_connect (r, "request-served", G_CALLBACK (count_served), &calls);
  thread = g_thread_new ("held", held_request_thread, r);
  while (!held && g_get_monotonic_time () < deadline)
    {
      g_autoptr(GPtrArray) entries = mr_runner_get_requests (r, NULL, "*/hold", NULL);
      held = entries->len == 1;
      if (!held)
        g_usleep (5000);
    }
  g_assert_true (held);
  mr_runner_stop (r);
  g_assert_cmpint (calls, ==, 0);
  /* the client got no answer */
  g_assert_cmpuint (GPOINTER_TO_UINT (g_thread_join (g_steal_pointer (&thread))), !=, 200);
  g_object_unref (r);
}

/* A request libsoup cannot parse is recorded too, and queries by method still work. */
static void
test_malformed_request (void)
{
  g_autoptr(MrRunner) r = mr_test_runner_new_started ();
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) conn = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) all = NULL;
  g_autoptr(GPtrArray) gets = NULL;
  const char garbage[] = "\x01\x02 not http at all\r\n\r\n";
  char buffer[1024];

  conn = g_socket_client_connect_to_host (client, "127.0.0.1", mr_runner_get_port (r), NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (conn)), garbage,
                                            sizeof garbage - 1, NULL, NULL, &error));
  /* whatever the answer, the connection ends */
  while (g_input_stream_read (g_io_stream_get_input_stream (G_IO_STREAM (conn)), buffer, sizeof buffer,
                              NULL, NULL) > 0)
    ;
  g_assert_cmpuint (mr_test_status (r, "GET", "/", NULL), ==, 200);
  all = mr_runner_get_requests (r, NULL, NULL, NULL);
  gets = mr_runner_get_requests (r, "GET", NULL, NULL);
  g_assert_cmpuint (gets->len, ==, 1);
  g_assert_cmpuint (all->len, >=, 1);
  for (guint i = 0; i < all->len; i++)
    {
      g_autoptr(JsonNode) node = mr_journal_entry_to_json (all->pdata[i]);
      g_assert_nonnull (node);
      g_assert_true (mr_journal_entry_get_completed (all->pdata[i]));
    }
}

/* Raw requests on one connection: writes @request, reads until @until is in the reply
 * (or the connection ends), then writes @more if any and reads on until @until_more. */
static char *
raw_exchange (MrRunner *r, const char *request, const char *until, const char *more, const char *until_more)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) conn = NULL;
  g_autoptr(GError) error = NULL;
  GString *reply = g_string_new (NULL);
  const char *phases[2][2] = { { request, until }, { more, until_more } };

  conn = g_socket_client_connect_to_host (client, "127.0.0.1", mr_runner_get_port (r), NULL, &error);
  g_assert_no_error (error);
  for (int i = 0; i < 2 && phases[i][0]; i++)
    {
      gsize start = reply->len;
      g_assert_true (g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (conn)), phases[i][0],
                                                strlen (phases[i][0]), NULL, NULL, &error));
      while (strstr (reply->str + start, phases[i][1]) == NULL)
        {
          char buffer[1024];
          gssize n = g_input_stream_read (g_io_stream_get_input_stream (G_IO_STREAM (conn)), buffer,
                                          sizeof buffer, NULL, NULL);
          if (n <= 0)
            break;
          g_string_append_len (reply, buffer, n);
        }
    }
  return g_string_free (reply, FALSE);
}

/* The journal connects its signal handlers only where a request needs them (docs/
 * performance.md): bodies in chunks, Expect: 100-continue answered before the body, a
 * request refused by libsoup before the early handler, and a client that goes away. */
static void
test_bodies_and_expectations (void)
{
  g_autoptr(MrRunner) r = mr_test_runner_new_started ();
  g_autofree char *json = mr_test_create_json ("sb-chunked");
  g_autofree char *json2 = mr_test_create_json ("sb-continue");
  const char *token = mr_runner_get_token (r);
  g_autofree char *chunked = g_strdup_printf ("POST /sandboxes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                                              "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                                              "5\r\n%.5s\r\n%zx\r\n%s\r\n0\r\n\r\n",
                                              token, json, strlen (json) - 5, json + 5);
  g_autofree char *refused = g_strdup_printf ("POST /sandboxes HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                                              "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                                              strlen (json2));
  g_autofree char *expecting = g_strdup_printf ("POST /sandboxes HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                                                "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                                                "Content-Length: %zu\r\n\r\n", token, strlen (json2));
  g_autofree char *wrong_scheme = g_strdup_printf ("POST https://127.0.0.1:%u/sandboxes HTTP/1.1\r\nHost: x\r\n"
                                                   "Content-Length: 7\r\nConnection: close\r\n\r\n{\"a\":1}",
                                                   mr_runner_get_port (r));
  g_autofree char *reply = NULL;
  g_autoptr(GPtrArray) entries = NULL;

  reply = raw_exchange (r, chunked, "\r\n\r\n", NULL, NULL);
  g_assert_true (g_str_has_prefix (reply, "HTTP/1.1 201"));
  g_clear_pointer (&reply, g_free);
  reply = raw_exchange (r, refused, "\r\n\r\n", NULL, NULL);
  g_assert_true (g_str_has_prefix (reply, "HTTP/1.1 401"));
  g_clear_pointer (&reply, g_free);
  reply = raw_exchange (r, expecting, "\r\n\r\n", json2, "HTTP/1.1 201");
  g_assert_true (g_str_has_prefix (reply, "HTTP/1.1 100"));
  g_assert_nonnull (strstr (reply, "HTTP/1.1 201"));
  g_clear_pointer (&reply, g_free);
  reply = raw_exchange (r, wrong_scheme, "\r\n\r\n", NULL, NULL);
  g_assert_true (g_str_has_prefix (reply, "HTTP/1.1 400"));

  entries = mr_runner_get_requests (r, "POST", NULL, NULL);
  g_assert_cmpuint (entries->len, ==, 4);
  for (guint i = 0; i < entries->len; i++)
    g_assert_true (mr_journal_entry_get_completed (entries->pdata[i]));
  /* chunked: the body as decoded */
  g_assert_cmpuint (mr_journal_entry_get_status (entries->pdata[0]), ==, 201);
  g_assert_cmpuint (mr_journal_entry_get_body_size (entries->pdata[0]), ==, strlen (json));
  /* refused before the client sent its body */
  g_assert_cmpuint (mr_journal_entry_get_status (entries->pdata[1]), ==, 401);
  g_assert_cmpuint (mr_journal_entry_get_body_size (entries->pdata[1]), ==, 0);
  /* the final status, not the 100 */
  g_assert_cmpuint (mr_journal_entry_get_status (entries->pdata[2]), ==, 201);
  g_assert_cmpuint (mr_journal_entry_get_body_size (entries->pdata[2]), ==, strlen (json2));
  /* libsoup answered 400 itself, before any route ran */
  g_assert_cmpuint (mr_journal_entry_get_status (entries->pdata[3]), ==, 400);
  g_assert_cmpuint (mr_journal_entry_get_body_size (entries->pdata[3]), ==, 7);
}

/* Many headers (more than the capture's stack room) and credentials with or without
 * a scheme: all recorded, in order, credentials redacted. */
static void
test_many_headers (void)
{
  g_autoptr(MrRunner) r = mr_test_runner_new_started ();
  g_autoptr(GString) request = g_string_new ("GET /sandboxes/h?x=1 HTTP/1.1\r\nHost: x\r\n");
  g_autoptr(MrJournalEntry) entry = NULL;
  g_autoptr(GHashTable) headers = NULL;
  g_autofree char *reply = NULL;

  g_string_append (request, "Proxy-Authorization: no-scheme-secret\r\n");
  g_string_append_printf (request, "X-Daytona-Authorization: Bearer %s\r\n", mr_runner_get_token (r));
  for (int i = 0; i < 50; i++)
    g_string_append_printf (request, "X-Header-%d: value %d\r\n", i, i);
  g_string_append (request, "X-Header-7: again\r\n\r\n");
  reply = raw_exchange (r, request->str, "\r\n\r\n", NULL, NULL);
  g_assert_true (g_str_has_prefix (reply, "HTTP/1.1 200"));

  entry = only_entry (r, "GET", NULL, NULL);
  g_assert_cmpstr (mr_journal_entry_get_method (entry), ==, "GET");
  g_assert_cmpstr (mr_journal_entry_get_path (entry), ==, "/sandboxes/h");
  g_assert_cmpstr (mr_journal_entry_get_query (entry), ==, "x=1");
  g_assert_cmpstr (mr_journal_entry_get_header (entry, "proxy-authorization"), ==, "[redacted]");
  g_assert_cmpstr (mr_journal_entry_get_header (entry, "X-Daytona-Authorization"), ==, "Bearer [redacted]");
  g_assert_cmpstr (mr_journal_entry_get_header (entry, "X-Header-0"), ==, "value 0");
  g_assert_cmpstr (mr_journal_entry_get_header (entry, "X-Header-49"), ==, "value 49");
  headers = mr_journal_entry_get_headers (entry);
  g_assert_cmpuint (g_hash_table_size (headers), ==, 53);
  g_assert_cmpstr (g_hash_table_lookup (headers, "x-header-7"), ==, "value 7, again");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  set_async_toolbox_path ();
  g_test_add_func ("/journal/records-fields", test_records_fields);
  g_test_add_func ("/journal/filters", test_filters);
  g_test_add_func ("/journal/before-reply", test_before_reply);
  g_test_add_func ("/journal/async-reply", test_async_reply);
  g_test_add_func ("/journal/cap", test_cap);
  g_test_add_func ("/journal/cap-changes", test_cap_changes);
  g_test_add_func ("/journal/control-routes-left-out", test_control_routes_left_out);
  g_test_add_func ("/journal/http-query-and-clear", test_http_query_and_clear);
  g_test_add_func ("/journal/reset-clears", test_reset_clears);
  g_test_add_func ("/journal/malformed-request", test_malformed_request);
  g_test_add_func ("/journal/stop-with-request-in-flight", test_stop_with_request_in_flight);
  g_test_add_func ("/journal/bodies-and-expectations", test_bodies_and_expectations);
  g_test_add_func ("/journal/many-headers", test_many_headers);
  return g_test_run ();
}
