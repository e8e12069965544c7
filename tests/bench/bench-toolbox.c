/* bench-toolbox: the toolbox through the runner against doing the same thing directly
 * (docs/performance.md):
 *   - `echo hi` run by POST /sandboxes/{id}/toolbox/process/execute, one request at a time
 *     on a kept-alive connection, against spawning it here (posix_spawn, a pipe, wait);
 *   - a file uploaded (POST .../files/upload, multipart) and downloaded (GET
 *     .../files/download) against the same bytes sent over a plain loopback TCP connection
 *     inside this program (for the upload, also with the receiver writing them to a file
 *     in the same directory, as the toolbox must).
 * It starts the standalone server ($MOCK_RUNNER_BIN, as the tests do) and talks to it with
 * a small HTTP/1.1 client of its own, so that the client costs little next to the server.
 *
 * Writes into page-cache pages never used since boot cost several times more than into
 * recently freed ones (on the VM these figures come from: 400 MB/s against 4 GB/s), so
 * the transfers that write a file run PASSES times to the same destination, deleted
 * before each: the first pass and the best of the others are both reported.
 *
 * Environment: BENCH_EXECUTE_N (500), BENCH_TRANSFER_MIB (256).
 * Run with `meson test -C _build --benchmark --suite bench -v bench-toolbox`. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/wait.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include <gio/gio.h>

extern char **environ;

#define TOKEN "bench-token"
#define SANDBOX "bench-toolbox"
#define BLOCK (1024 * 1024)
#define BOUNDARY "bench-toolbox-boundary"
#define PASSES 4

/* A kept-alive HTTP/1.1 connection. */
typedef struct {
  GSocketConnection *conn;
  GDataInputStream *in;
  GOutputStream *out;
} Client;

static Client *
client_new (guint16 port)
{
  g_autoptr(GSocketClient) sc = g_socket_client_new ();
  g_autoptr(GError) error = NULL;
  Client *c = g_new0 (Client, 1);

  c->conn = g_socket_client_connect_to_host (sc, "127.0.0.1", port, NULL, &error);
  if (c->conn == NULL)
    g_error ("connect: %s", error->message);
  g_socket_set_option (g_socket_connection_get_socket (c->conn), IPPROTO_TCP, TCP_NODELAY, 1, NULL);
  c->in = g_data_input_stream_new (g_io_stream_get_input_stream (G_IO_STREAM (c->conn)));
  g_buffered_input_stream_set_buffer_size (G_BUFFERED_INPUT_STREAM (c->in), BLOCK);
  g_data_input_stream_set_newline_type (c->in, G_DATA_STREAM_NEWLINE_TYPE_CR_LF);
  c->out = g_io_stream_get_output_stream (G_IO_STREAM (c->conn));
  return c;
}

static void
client_free (Client *c)
{
  g_object_unref (c->in);
  g_object_unref (c->conn);
  g_free (c);
}

static void
send_all (Client *c, const void *data, gsize len)
{
  g_autoptr(GError) error = NULL;

  if (!g_output_stream_write_all (c->out, data, len, NULL, NULL, &error))
    g_error ("send: %s", error->message);
}

static char *
read_line (Client *c)
{
  g_autoptr(GError) error = NULL;
  char *line = g_data_input_stream_read_line (c->in, NULL, NULL, &error);

  if (line == NULL)
    g_error ("read: %s", error ? error->message : "connection closed");
  return line;
}

/* Reads @len body bytes into @body (or discards them when NULL). */
static void
read_body (Client *c, guint64 len, GString *body)
{
  static char buffer[BLOCK];
  g_autoptr(GError) error = NULL;

  while (len > 0)
    {
      gssize n = g_input_stream_read (G_INPUT_STREAM (c->in), buffer, MIN (len, sizeof buffer), NULL, &error);
      if (n <= 0)
        g_error ("read body: %s", error ? error->message : "connection closed");
      if (body)
        g_string_append_len (body, buffer, n);
      len -= n;
    }
}

/* Reads a response; returns its status, the body in @body when not NULL (else counted
 * only), its length in @body_len. */
static guint
read_response (Client *c, GString *body, guint64 *body_len)
{
  g_autofree char *status_line = read_line (c);
  gboolean chunked = FALSE;
  guint64 length = 0, total = 0;
  guint status;

  if (sscanf (status_line, "HTTP/1.1 %u", &status) != 1)
    g_error ("bad status line: %s", status_line);
  for (;;)
    {
      g_autofree char *line = read_line (c);
      if (*line == '\0')
        break;
      if (g_ascii_strncasecmp (line, "Content-Length:", 15) == 0)
        length = g_ascii_strtoull (line + 15, NULL, 10);
      else if (g_ascii_strncasecmp (line, "Transfer-Encoding:", 18) == 0 && strstr (line, "chunked"))
        chunked = TRUE;
    }
  if (!chunked)
    {
      read_body (c, length, body);
      total = length;
    }
  else
    for (;;)
      {
        g_autofree char *size_line = read_line (c);
        g_autofree char *crlf = NULL;
        guint64 size = g_ascii_strtoull (size_line, NULL, 16);
        if (size == 0)
          {
            g_free (read_line (c));
            break;
          }
        read_body (c, size, body);
        total += size;
        crlf = read_line (c);
      }
  if (body_len)
    *body_len = total;
  return status;
}

static guint
request (Client *c, const char *method, const char *path, const char *json, GString *body)
{
  g_autofree char *head = g_strdup_printf ("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " TOKEN "\r\n"
                                           "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                                           method, path, json ? strlen (json) : 0);

  send_all (c, head, strlen (head));
  if (json)
    send_all (c, json, strlen (json));
  return read_response (c, body, NULL);
}

/* The standalone server ---------------------------------------------------------------- */

static GSubprocess *
start_runner (const char *work_dir, guint16 *port)
{
  const char *bin = g_getenv ("MOCK_RUNNER_BIN") ? g_getenv ("MOCK_RUNNER_BIN") : "mock-runner";
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_autoptr(GDataInputStream) out = NULL;
  g_autoptr(GError) error = NULL;
  GSubprocess *runner;

  g_subprocess_launcher_set_cwd (launcher, work_dir);
  g_subprocess_launcher_setenv (launcher, "API_TOKEN", TOKEN, TRUE);
  g_subprocess_launcher_setenv (launcher, "SERVER_URL", "http://localhost:3000", TRUE);
  g_subprocess_launcher_setenv (launcher, "API_PORT", "0", TRUE);
  g_subprocess_launcher_setenv (launcher, "API_HOST", "127.0.0.1", TRUE);
  runner = g_subprocess_launcher_spawn (launcher, &error, bin, NULL);
  if (runner == NULL)
    g_error ("%s: %s", bin, error->message);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (runner));
  for (;;)
    {
      g_autofree char *line = g_data_input_stream_read_line (out, NULL, NULL, NULL);
      const char *url;
      if (line == NULL)
        g_error ("%s did not start", bin);
      if ((url = strstr (line, "listening on http://127.0.0.1:")))
        {
          *port = atoi (url + strlen ("listening on http://127.0.0.1:"));
          return runner;
        }
    }
}

/* Measures ----------------------------------------------------------------------------- */

static int
compare_gint64 (const void *a, const void *b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;
  return (x > y) - (x < y);
}

static void
percentiles (gint64 *samples, guint n, gint64 *p50, gint64 *p99)
{
  qsort (samples, n, sizeof (gint64), compare_gint64);
  *p50 = samples[n / 2];
  *p99 = samples[n * 99 / 100];
}

static void
execute_through_runner (Client *c, guint n, gint64 *p50, gint64 *p99)
{
  g_autofree gint64 *samples = g_new (gint64, n);
  const char *path = "/sandboxes/" SANDBOX "/toolbox/process/execute";
  const char *json = "{\"command\":\"echo hi\"}";

  for (guint i = 0; i < n + n / 10; i++)
    {
      g_autoptr(GString) body = g_string_new (NULL);
      gint64 t0 = g_get_monotonic_time ();
      guint status = request (c, "POST", path, json, body);
      gint64 t = g_get_monotonic_time () - t0;

      if (status != 200 || !strstr (body->str, "\"result\":\"hi\\n\""))
        g_error ("execute -> %u %s", status, body->str);
      if (i >= n / 10)   /* the first tenth warms up */
        samples[i - n / 10] = t;
    }
  percentiles (samples, n, p50, p99);
}

/* The same command started here: a pipe for its output, read to the end, then waited for,
 * which is what the toolbox does for it. */
static void
spawn_directly (guint n, gint64 *p50, gint64 *p99)
{
  g_autofree gint64 *samples = g_new (gint64, n);
  char *argv[] = { "echo", "hi", NULL };

  for (guint i = 0; i < n + n / 10; i++)
    {
      posix_spawn_file_actions_t actions;
      gint64 t0 = g_get_monotonic_time ();
      char buffer[64];
      int fds[2], status;
      pid_t pid;
      gsize got = 0;
      gssize r;

      if (pipe (fds) != 0)
        g_error ("pipe: %s", g_strerror (errno));
      posix_spawn_file_actions_init (&actions);
      posix_spawn_file_actions_addopen (&actions, 0, "/dev/null", O_RDONLY, 0);
      posix_spawn_file_actions_adddup2 (&actions, fds[1], 1);
      posix_spawn_file_actions_adddup2 (&actions, fds[1], 2);
      posix_spawn_file_actions_addclose (&actions, fds[0]);
      posix_spawn_file_actions_addclose (&actions, fds[1]);
      if (posix_spawnp (&pid, "echo", &actions, NULL, argv, environ) != 0)
        g_error ("posix_spawnp failed");
      posix_spawn_file_actions_destroy (&actions);
      close (fds[1]);
      while ((r = read (fds[0], buffer + got, sizeof buffer - got)) > 0)
        got += r;
      close (fds[0]);
      waitpid (pid, &status, 0);
      if (got != 3 || memcmp (buffer, "hi\n", 3) != 0)
        g_error ("echo hi wrote %zu bytes", got);
      if (i >= n / 10)
        samples[i - n / 10] = g_get_monotonic_time () - t0;
    }
  percentiles (samples, n, p50, p99);
}

/* Sends @file's bytes to @out in blocks. */
static void
send_file (GOutputStream *out, const char *file)
{
  static char buffer[BLOCK];
  int fd = g_open (file, O_RDONLY, 0);
  gssize n;

  if (fd < 0)
    g_error ("open %s: %s", file, g_strerror (errno));
  while ((n = read (fd, buffer, sizeof buffer)) > 0)
    if (!g_output_stream_write_all (out, buffer, n, NULL, NULL, NULL))
      g_error ("send failed");
  close (fd);
}

/* On a connection of its own: the runner closes it after a large upload. */
static double
upload_through_runner (guint16 port, const char *file, guint64 size, const char *dest)
{
  Client *c = client_new (port);
  g_autofree char *escaped = g_uri_escape_string (dest, NULL, FALSE);
  g_autofree char *preamble = g_strdup ("--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n"
                                        "Content-Type: application/octet-stream\r\n\r\n");
  const char *epilogue = "\r\n--" BOUNDARY "--\r\n";
  g_autofree char *head = g_strdup_printf ("POST /sandboxes/" SANDBOX "/toolbox/files/upload?path=%s HTTP/1.1\r\n"
                                           "Host: 127.0.0.1\r\nAuthorization: Bearer " TOKEN "\r\n"
                                           "Content-Type: multipart/form-data; boundary=" BOUNDARY "\r\n"
                                           "Content-Length: %" G_GUINT64_FORMAT "\r\n\r\n",
                                           escaped, strlen (preamble) + size + strlen (epilogue));
  g_autoptr(GString) body = g_string_new (NULL);
  gint64 t0;
  guint status;

  g_unlink (dest);   /* freeing its pages is not part of the upload */
  t0 = g_get_monotonic_time ();
  send_all (c, head, strlen (head));
  send_all (c, preamble, strlen (preamble));
  send_file (c->out, file);
  send_all (c, epilogue, strlen (epilogue));
  status = read_response (c, body, NULL);
  if (status != 200)
    g_error ("upload -> %u %s", status, body->str);
  t0 = g_get_monotonic_time () - t0;
  client_free (c);
  return t0 / 1e6;
}

static double
download_through_runner (Client *c, guint64 size, const char *dest)
{
  g_autofree char *escaped = g_uri_escape_string (dest, NULL, FALSE);
  g_autofree char *head = g_strdup_printf ("GET /sandboxes/" SANDBOX "/toolbox/files/download?path=%s HTTP/1.1\r\n"
                                           "Host: 127.0.0.1\r\nAuthorization: Bearer " TOKEN "\r\n\r\n", escaped);
  gint64 t0 = g_get_monotonic_time ();
  guint64 got = 0;
  guint status;

  send_all (c, head, strlen (head));
  status = read_response (c, NULL, &got);
  if (status != 200 || got != size)
    g_error ("download -> %u, %" G_GUINT64_FORMAT " bytes", status, got);
  return (g_get_monotonic_time () - t0) / 1e6;
}

/* A plain loopback copy: one side sends the file, the other reads and drops it. */
typedef struct {
  GSocketListener *listener;
  const char *file;          /* the accepting side sends it, or reads when NULL */
  const char *write_to;      /* when reading, write what it reads there */
  guint64 received;
} Peer;

static gpointer
peer_thread (gpointer data)
{
  Peer *p = data;
  g_autoptr(GSocketConnection) conn = g_socket_listener_accept (p->listener, NULL, NULL, NULL);
  static char buffer[BLOCK];
  gssize n;

  int fd = p->write_to ? g_open (p->write_to, O_WRONLY | O_CREAT | O_TRUNC, 0644) : -1;

  if (p->file)
    send_file (g_io_stream_get_output_stream (G_IO_STREAM (conn)), p->file);
  else
    while ((n = g_input_stream_read (g_io_stream_get_input_stream (G_IO_STREAM (conn)), buffer, sizeof buffer,
                                     NULL, NULL)) > 0)
      {
        if (fd >= 0 && write (fd, buffer, n) != n)
          g_error ("write %s failed", p->write_to);
        p->received += n;
      }
  if (fd >= 0)
    close (fd);
  return NULL;
}

/* @write_to: for an upload, the receiver also writes the bytes to this file, as the
 * toolbox does */
static double
loopback_copy (const char *file, guint64 size, gboolean upload, const char *write_to)
{
  g_autoptr(GSocketListener) listener = g_socket_listener_new ();
  g_autoptr(GSocketClient) sc = g_socket_client_new ();
  g_autoptr(GSocketConnection) conn = NULL;
  g_autoptr(GThread) thread = NULL;
  Peer peer = { listener, upload ? NULL : file, write_to, 0 };
  guint16 port = g_socket_listener_add_any_inet_port (listener, NULL, NULL);
  static char buffer[BLOCK];
  gint64 t0;
  guint64 got = 0;
  gssize n;

  if (write_to)
    g_unlink (write_to);   /* freeing its pages is not part of the copy */
  thread = g_thread_new ("peer", peer_thread, &peer);
  t0 = g_get_monotonic_time ();
  conn = g_socket_client_connect_to_host (sc, "127.0.0.1", port, NULL, NULL);
  if (upload)
    {
      send_file (g_io_stream_get_output_stream (G_IO_STREAM (conn)), file);
      g_io_stream_close (G_IO_STREAM (conn), NULL, NULL);
    }
  else
    while ((n = g_input_stream_read (g_io_stream_get_input_stream (G_IO_STREAM (conn)), buffer, sizeof buffer,
                                     NULL, NULL)) > 0)
      got += n;
  g_thread_join (g_steal_pointer (&thread));
  if ((upload ? peer.received : got) != size)
    g_error ("loopback copy moved %" G_GUINT64_FORMAT " bytes", upload ? peer.received : got);
  return (g_get_monotonic_time () - t0) / 1e6;
}

/* The first of PASSES uploads (into fresh pages) and the best of the others */
static void
upload_passes (guint16 port, const char *file, guint64 size, const char *dest, double *first, double *best)
{
  *first = upload_through_runner (port, file, size, dest);
  *best = G_MAXDOUBLE;
  for (guint i = 1; i < PASSES; i++)
    *best = MIN (*best, upload_through_runner (port, file, size, dest));
}

static void
loopback_to_file_passes (const char *file, guint64 size, const char *copy, double *first, double *best)
{
  *first = loopback_copy (file, size, TRUE, copy);
  *best = G_MAXDOUBLE;
  for (guint i = 1; i < PASSES; i++)
    *best = MIN (*best, loopback_copy (file, size, TRUE, copy));
}

static void
make_file (const char *file, guint64 size)
{
  g_autofree guint8 *block = g_malloc (BLOCK);
  g_autoptr(GRand) rand = g_rand_new_with_seed (42);
  FILE *f = g_fopen (file, "wb");

  for (gsize i = 0; i < BLOCK / 4; i++)
    ((guint32 *) block)[i] = g_rand_int (rand);
  for (guint64 done = 0; done < size; done += BLOCK)
    fwrite (block, 1, MIN (BLOCK, size - done), f);
  fclose (f);
}

static char *
load_average (void)
{
  g_autofree char *text = NULL;
  g_auto(GStrv) fields = NULL;

  if (!g_file_get_contents ("/proc/loadavg", &text, NULL, NULL))
    return g_strdup ("?");
  fields = g_strsplit (text, " ", 4);
  return g_strdup_printf ("%s %s %s", fields[0], fields[1], fields[2]);
}

static void
remove_dir (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  while (d && (name = g_dir_read_name (d)))
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      if (g_file_test (path, G_FILE_TEST_IS_DIR))
        remove_dir (path);
      else
        g_unlink (path);
    }
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  guint n = g_getenv ("BENCH_EXECUTE_N") ? atoi (g_getenv ("BENCH_EXECUTE_N")) : 500;
  guint64 mib = g_getenv ("BENCH_TRANSFER_MIB") ? g_ascii_strtoull (g_getenv ("BENCH_TRANSFER_MIB"), NULL, 10) : 256;
  guint64 size = mib * 1024 * 1024;
  g_autofree char *work = g_dir_make_tmp ("bench-toolbox-XXXXXX", NULL);
  g_autofree char *file = g_build_filename (work, "source.bin", NULL);
  g_autofree char *dest = g_build_filename (work, "uploaded.bin", NULL);
  g_autofree char *copy = g_build_filename (work, "copied.bin", NULL);
  g_autofree char *load = NULL;
  g_autoptr(GSubprocess) runner = NULL;
  Client *c;
  guint16 port;
  gint64 exec50, exec99, spawn50, spawn99;
  double up, up_first, down, loop_up, loop_up_disk, loop_up_disk_first, loop_down;

  signal (SIGPIPE, SIG_IGN);
  runner = start_runner (work, &port);
  c = client_new (port);
  if (request (c, "POST", "/sandboxes", "{\"id\":\"" SANDBOX "\",\"userId\":\"u\",\"snapshot\":\"ubuntu:22.04\","
               "\"osUser\":\"daytona\",\"cpuQuota\":1,\"memoryQuota\":1,\"storageQuota\":3}", NULL) != 201)
    g_error ("create failed");

  load = load_average ();
  g_print ("bench-toolbox: load %s, %u CPUs\n", load, g_get_num_processors ());
  execute_through_runner (c, n, &exec50, &exec99);
  spawn_directly (n, &spawn50, &spawn99);
  g_print ("execute \"echo hi\" through the runner  n=%u p50=%" G_GINT64_FORMAT "us p99=%" G_GINT64_FORMAT "us\n",
           n, exec50, exec99);
  g_print ("spawn \"echo hi\" directly              n=%u p50=%" G_GINT64_FORMAT "us p99=%" G_GINT64_FORMAT "us\n",
           n, spawn50, spawn99);
  g_print ("execute p50 - spawn p50 = %.2f ms (aim: at most 2 ms)\n", (exec50 - spawn50) / 1000.0);

  make_file (file, size);
  g_clear_pointer (&load, g_free);
  load = load_average ();
  loop_up = loopback_copy (file, size, TRUE, NULL);
  loopback_to_file_passes (file, size, copy, &loop_up_disk_first, &loop_up_disk);
  /* the copy's pages freed, as before each of its own passes: the upload's first pass
   * then starts as the copy's later ones did, not with a page cache fuller by 256 MiB */
  g_unlink (copy);
  upload_passes (port, file, size, dest, &up_first, &up);
  loop_down = loopback_copy (file, size, FALSE, NULL);
  down = download_through_runner (c, size, dest);
  g_print ("%" G_GUINT64_FORMAT " MiB, load %s:\n", mib, load);
  g_print ("  upload through the runner    %7.0f MiB/s (%.2f s), first of %u passes %.0f MiB/s (%.2f s)\n",
           mib / up, up, PASSES, mib / up_first, up_first);
  g_print ("  download through the runner  %7.0f MiB/s (%.2f s)\n", mib / down, down);
  g_print ("  loopback TCP copy, sending   %7.0f MiB/s (%.2f s)\n", mib / loop_up, loop_up);
  g_print ("  the same, written to a file  %7.0f MiB/s (%.2f s), first of %u passes %.0f MiB/s (%.2f s)\n",
           mib / loop_up_disk, loop_up_disk, PASSES, mib / loop_up_disk_first, loop_up_disk_first);
  g_print ("  loopback TCP copy, receiving %7.0f MiB/s (%.2f s)\n", mib / loop_down, loop_down);
  g_print ("  ratios: upload %.2f of the copy (%.2f of the copy written to a file; first passes: %.2f and %.2f), "
           "download %.2f (aim: at least 0.5)\n", loop_up / up, loop_up_disk / up, loop_up / up_first,
           loop_up_disk_first / up_first, loop_down / down);

  client_free (c);
  g_subprocess_send_signal (runner, SIGTERM);
  g_subprocess_wait (runner, NULL, NULL);
  remove_dir (work);
  return 0;
}
