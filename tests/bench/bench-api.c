/* bench-api: latency of runner API requests against an in-process runner, over one
 * keep-alive connection (libsoup client). Prints one line per route:
 *   <route> n=<count> median=<us> p99=<us> rate=<req/s>
 * and, for creates and gets, the time spent inside the server from the journal.
 * Run with `meson test -C _build --benchmark --suite bench -v`. */
#include <stdlib.h>
#include <string.h>

#include "mock-runner.h"

#define N 2000

static int
compare_gint64 (const void *a, const void *b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;
  return (x > y) - (x < y);
}

typedef char *(*PathFunc) (guint i);

static void
run (SoupSession *session, MrRunner *runner, const char *label, const char *method,
     PathFunc path_for, const char *body_format)
{
  g_autofree gint64 *samples = g_new (gint64, N);
  g_autofree char *auth = g_strconcat ("Bearer ", mr_runner_get_token (runner), NULL);
  gint64 start = g_get_monotonic_time ();

  for (guint i = 0; i < N; i++)
    {
      g_autofree char *path = path_for (i);
      g_autofree char *url = g_strconcat (mr_runner_get_url (runner), path, NULL);
      g_autoptr(SoupMessage) msg = soup_message_new (method, url);
      g_autoptr(GBytes) reply = NULL;
      gint64 t0;

      soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", auth);
      if (body_format)
        {
          g_autofree char *body = g_strdup_printf (body_format, i);
          g_autoptr(GBytes) bytes = g_bytes_new (body, strlen (body));
          soup_message_set_request_body_from_bytes (msg, "application/json", bytes);
        }
      t0 = g_get_monotonic_time ();
      reply = soup_session_send_and_read (session, msg, NULL, NULL);
      samples[i] = g_get_monotonic_time () - t0;
      if (!SOUP_STATUS_IS_SUCCESSFUL (soup_message_get_status (msg)))
        g_error ("%s %s -> %u", method, path, soup_message_get_status (msg));
    }
  qsort (samples, N, sizeof (gint64), compare_gint64);
  g_print ("%-28s n=%d median=%" G_GINT64_FORMAT "us p99=%" G_GINT64_FORMAT "us rate=%.0f/s\n", label, N,
           samples[N / 2], samples[N * 99 / 100], N / ((g_get_monotonic_time () - start) / 1e6));
}

/* How long the runner itself took over the requests of @route, from its journal: from the
 * request's first byte read to its reply decided. */
static void
inside_server (MrRunner *runner, const char *label, const char *method, const char *route)
{
  g_autoptr(GPtrArray) entries = mr_runner_get_requests (runner, method, route, NULL);
  g_autofree gint64 *samples = g_new (gint64, MAX (entries->len, 1));

  for (guint i = 0; i < entries->len; i++)
    samples[i] = mr_journal_entry_get_duration (entries->pdata[i]);
  qsort (samples, entries->len, sizeof (gint64), compare_gint64);
  if (entries->len)
    g_print ("%-28s n=%u median=%" G_GINT64_FORMAT "us p99=%" G_GINT64_FORMAT "us (inside the server)\n", label,
             entries->len, samples[entries->len / 2], samples[entries->len * 99 / 100]);
}

static char *path_health (guint i) { return g_strdup ("/"); }
static char *path_info (guint i) { return g_strdup ("/info"); }
static char *path_create (guint i) { return g_strdup ("/sandboxes"); }
static char *path_get (guint i) { return g_strdup_printf ("/sandboxes/bench-%u", i); }
static char *path_stop (guint i) { return g_strdup_printf ("/sandboxes/bench-%u/stop", i); }
static char *path_version (guint i) { return g_strdup ("/sandboxes/bench-0/toolbox/version"); }
static char *path_exists (guint i) { return g_strdup ("/snapshots/exists?snapshot=ubuntu:22.04"); }

int
main (int argc, char **argv)
{
  g_autoptr(MrRunner) runner = mr_runner_new ();
  g_autoptr(SoupSession) session = soup_session_new ();
  g_autoptr(GError) error = NULL;

  if (mr_runner_start (runner, &error) == 0)
    g_error ("start: %s", error->message);
  run (session, runner, "GET /", "GET", path_health, NULL);
  run (session, runner, "POST /sandboxes", "POST", path_create,
       "{\"id\":\"bench-%u\",\"userId\":\"u\",\"snapshot\":\"ubuntu:22.04\",\"osUser\":\"o\","
       "\"cpuQuota\":1,\"memoryQuota\":1,\"storageQuota\":1}");
  inside_server (runner, "POST /sandboxes", "POST", "/sandboxes");
  mr_runner_clear_requests (runner);
  run (session, runner, "GET /sandboxes/{id}", "GET", path_get, NULL);
  inside_server (runner, "GET /sandboxes/{id}", "GET", "/sandboxes/{id}");
  run (session, runner, "GET /info (2000 sandboxes)", "GET", path_info, NULL);
  run (session, runner, "GET /snapshots/exists", "GET", path_exists, NULL);
  run (session, runner, "GET .../toolbox/version", "GET", path_version, NULL);
  run (session, runner, "POST /sandboxes/{id}/stop", "POST", path_stop, NULL);
  return 0;
}
