/* Kept-alive connections (src/mr-keepalive.c): the runner closes its side when the client
 * goes away while idle (libsoup 3.2 alone leaves it in CLOSE-WAIT for good), however the
 * client leaves, and a watch left on a connection libsoup closed does not disturb the
 * next connection, which may get the same descriptor. */
#include "mr-test-http.h"

/* Server-side sockets of @port in CLOSE-WAIT (the peer closed, we did not), from the
 * kernel's table: the runner runs in this process, so its descriptors cannot be told
 * from the client's any other way. */
static guint
close_wait_count (guint port)
{
  g_autofree char *table = NULL;
  g_auto(GStrv) lines = NULL;
  g_autofree char *local = g_strdup_printf (":%04X", port);
  guint n = 0;

  g_assert_true (g_file_get_contents ("/proc/net/tcp", &table, NULL, NULL));
  lines = g_strsplit (table, "\n", -1);
  for (guint i = 1; lines[i]; i++)
    {
      g_auto(GStrv) fields = g_strsplit_set (g_strstrip (lines[i]), " ", -1);
      g_autoptr(GPtrArray) cols = g_ptr_array_new ();
      for (guint j = 0; fields[j]; j++)
        if (*fields[j])
          g_ptr_array_add (cols, fields[j]);
      /* sl local_address rem_address st ...; 08 is CLOSE_WAIT */
      if (cols->len > 3 && g_str_has_suffix (cols->pdata[1], local) && strcmp (cols->pdata[3], "08") == 0)
        n++;
    }
  return n;
}

/* The kernel updates the table at once, the runner's watch on its next main-loop turn:
 * give it a bounded while. */
static guint
settled_close_wait_count (guint port)
{
  gint64 deadline = g_get_monotonic_time () + 5 * G_TIME_SPAN_SECOND;
  guint n;

  while ((n = close_wait_count (port)) != 0 && g_get_monotonic_time () < deadline)
    g_usleep (10000);
  return n;
}

static GSocketConnection *
connect_to (MrRunner *r)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GError) error = NULL;
  GSocketConnection *conn = g_socket_client_connect_to_host (client, "127.0.0.1", mr_runner_get_port (r), NULL, &error);

  g_assert_no_error (error);
  return conn;
}

/* Reads a reply that starts with @status: all of it, or only its first bytes when
 * @partial (the rest is left unread). */
static void
read_reply (GSocketConnection *conn, gboolean partial, const char *status)
{
  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (conn));
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) reply = g_string_new (NULL);
  const char *length;
  char c;

  /* byte by byte, so that nothing past this reply is consumed */
  while (strstr (reply->str, "\r\n\r\n") == NULL && !(partial && reply->len >= 12))
    {
      g_assert_cmpint (g_input_stream_read (in, &c, 1, NULL, &error), ==, 1);
      g_string_append_c (reply, c);
    }
  g_assert_true (g_str_has_prefix (reply->str, status));
  if (partial)
    return;
  length = strstr (reply->str, "Content-Length: ");
  g_assert_nonnull (length);
  for (guint64 left = g_ascii_strtoull (length + strlen ("Content-Length: "), NULL, 10); left > 0; left--)
    g_assert_cmpint (g_input_stream_read (in, &c, 1, NULL, &error), ==, 1);
}

/* Sends a GET of "/" and reads its reply (see read_reply()). */
static void
get_root (GSocketConnection *conn, const char *extra_headers, gboolean partial, const char *status)
{
  g_autofree char *request = g_strdup_printf ("GET / HTTP/1.1\r\nHost: x\r\n%s\r\n", extra_headers);
  g_autoptr(GError) error = NULL;

  g_assert_true (g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (conn)), request,
                                            strlen (request), NULL, NULL, &error));
  read_reply (conn, partial, status);
}

/* The client closes after reading the whole reply: the runner sees end of stream. */
static void
test_client_closes (void)
{
  g_autoptr(MrRunner) r = mr_test_runner_new_started ();

  for (int i = 0; i < 5; i++)
    {
      g_autoptr(GSocketConnection) conn = connect_to (r);
      get_root (conn, "", FALSE, "HTTP/1.1 200");
      get_root (conn, "", FALSE, "HTTP/1.1 200");   /* kept alive */
      g_assert_true (g_io_stream_close (G_IO_STREAM (conn), NULL, NULL));
    }
  g_assert_cmpuint (settled_close_wait_count (mr_runner_get_port (r)), ==, 0);
}

/* The client closes with part of the reply unread, so its kernel resets the connection:
 * the runner closes its side without a warning (fatal in this test) about the peer's
 * address, which a reset connection no longer has. */
static void
test_client_resets (void)
{
  g_autoptr(MrRunner) r = mr_test_runner_new_started ();

  for (int i = 0; i < 5; i++)
    {
      g_autoptr(GSocketConnection) conn = connect_to (r);
      get_root (conn, "", TRUE, "HTTP/1.1 200");
      g_assert_true (g_io_stream_close (G_IO_STREAM (conn), NULL, NULL));
    }
  g_assert_cmpuint (settled_close_wait_count (mr_runner_get_port (r)), ==, 0);
  /* and it still serves */
  g_assert_cmpuint (mr_test_status (r, "GET", "/", NULL), ==, 200);
}

/* libsoup closes a connection the client asked to close, right after the reply; the next
 * connection often gets the same descriptor and must be served normally. */
static void
test_next_connection_after_close (void)
{
  g_autoptr(MrRunner) r = mr_test_runner_new_started ();

  for (int i = 0; i < 5; i++)
    {
      g_autoptr(GSocketConnection) closing = connect_to (r);
      g_autoptr(GSocketConnection) next = NULL;

      get_root (closing, "Connection: close\r\n", FALSE, "HTTP/1.1 200");
      next = connect_to (r);
      get_root (next, "", FALSE, "HTTP/1.1 200");
      get_root (next, "", FALSE, "HTTP/1.1 200");
    }
}

/* libsoup reports a 500 as "request-aborted", not "request-finished", yet keeps the
 * connection: its client closing it later is noticed all the same. */
static void
test_client_closes_after_a_500 (void)
{
  g_autoptr(MrRunner) r = mr_test_runner_new_started ();
  g_autoptr(MrFaultRule) rule = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *id = NULL;

  rule = mr_fault_rule_new_from_json ("{\"path\":\"/\",\"status\":500}", &error);
  g_assert_no_error (error);
  id = mr_runner_add_fault (r, rule, &error);
  g_assert_no_error (error);
  for (int i = 0; i < 5; i++)
    {
      g_autoptr(GSocketConnection) conn = connect_to (r);
      get_root (conn, "", FALSE, "HTTP/1.1 500");
      get_root (conn, "", FALSE, "HTTP/1.1 500");   /* kept alive */
      g_assert_true (g_io_stream_close (G_IO_STREAM (conn), NULL, NULL));
    }
  g_assert_cmpuint (settled_close_wait_count (mr_runner_get_port (r)), ==, 0);
}

/* A client that sends its last request and shuts down its side at once: the request is
 * answered, then the connection closed. */
static void
test_request_then_half_close (void)
{
  g_autoptr(MrRunner) r = mr_test_runner_new_started ();

  for (int i = 0; i < 5; i++)
    {
      g_autoptr(GSocketConnection) conn = connect_to (r);
      GSocket *socket = g_socket_connection_get_socket (conn);
      g_autoptr(GError) error = NULL;

      get_root (conn, "", FALSE, "HTTP/1.1 200");
      g_assert_true (g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (conn)),
                                                "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27, NULL, NULL, &error));
      g_assert_true (g_socket_shutdown (socket, FALSE, TRUE, &error));
      g_assert_no_error (error);
      read_reply (conn, FALSE, "HTTP/1.1 200");
      g_assert_true (g_io_stream_close (G_IO_STREAM (conn), NULL, NULL));
    }
  g_assert_cmpuint (settled_close_wait_count (mr_runner_get_port (r)), ==, 0);
}

/* @n POST /_mock/reset (204, whose connection the runner keeps usable:
 * mr_http_keep_alive_without_body()) on one kept-alive connection, which its client then
 * closes; afterwards no socket of the runner's is left in CLOSE-WAIT, and it still serves. */
static void
resets_on_one_connection_then_close (MrRunner *r, guint n)
{
  g_autofree char *url = g_strconcat (mr_runner_get_url (r), "/_mock/reset", NULL);
  g_autofree char *auth = g_strconcat ("Bearer ", mr_runner_get_token (r), NULL);
  SoupSession *session = soup_session_new ();

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(SoupMessage) msg = soup_message_new ("POST", url);
      g_autoptr(GBytes) body = NULL;
      soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", auth);
      body = soup_session_send_and_read (session, msg, NULL, NULL);
      g_assert_cmpuint (soup_message_get_status (msg), ==, 204);
    }
  g_object_unref (session);
  g_assert_cmpuint (settled_close_wait_count (mr_runner_get_port (r)), ==, 0);
  g_assert_cmpuint (mr_test_status (r, "GET", "/", NULL), ==, 200);
}

/* Clients that close as soon as they have their reply (a libsoup session freed after one
 * request), between calls into the server thread, and a kept-alive client with many
 * bodiless replies: what a fixture does around its tests. The end of stream then often
 * reaches the runner together with other events; the watch must look at a connection
 * before libsoup reads its end, or stealing it crashes libsoup. */
static void
test_clients_close_at_once (void)
{
  g_autoptr(MrRunner) r = mr_test_runner_new_started ();

  for (int round = 0; round < 20; round++)
    {
      for (int i = 0; i < 20; i++)
        {
          g_autofree char *id = g_strdup_printf ("sb-%d", i);
          g_autofree char *pull = g_strdup_printf ("{\"snapshot\":\"bench/image-%d:1\"}", i);
          g_assert_cmpuint (mr_test_create (r, id), ==, 201);
          g_assert_cmpuint (mr_test_status (r, "POST", "/snapshots/pull", pull), ==, 200);
        }
      for (int i = 0; i < 20; i++)
        g_assert_cmpuint (mr_test_status (r, "GET", "/sandboxes/sb-1", NULL), ==, 200);
      /* a call into the server thread from this one */
      mr_runner_reset (r);
    }
  resets_on_one_connection_then_close (r, 300);
}

/* A kept-alive connection that served many bodiless replies, then closed by its client. */
static void
test_client_closes_after_204s (void)
{
  g_autoptr(MrRunner) r = mr_test_runner_new_started ();

  resets_on_one_connection_then_close (r, 100);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/keepalive/client-closes", test_client_closes);
  g_test_add_func ("/keepalive/client-resets", test_client_resets);
  g_test_add_func ("/keepalive/next-connection-after-close", test_next_connection_after_close);
  g_test_add_func ("/keepalive/client-closes-after-a-500", test_client_closes_after_a_500);
  g_test_add_func ("/keepalive/request-then-half-close", test_request_then_half_close);
  g_test_add_func ("/keepalive/clients-close-at-once", test_clients_close_at_once);
  g_test_add_func ("/keepalive/client-closes-after-204s", test_client_closes_after_204s);
  return g_test_run ();
}
