/* bench-runner: what a test suite pays per runner start and per reset.
 *
 *   first-start  the first start in the process, which also loads the plugin modules;
 *   start   mr_runner_new () + mr_runner_start () until it accepts requests (plugins
 *           set up, port bound); stop: stop + unref, which a suite pays too;
 *   reset   mr_runner_reset () called from another thread, as Python calls it, on a
 *           runner holding 20 sandboxes, 20 images and a journal of 200 requests;
 *   reset-empty  the same with nothing to clear: the cost of the cross-thread call;
 *   reset-http  POST /_mock/reset over a kept-alive connection.
 *
 * Prints min / median / p90 in milliseconds. Run with `meson test --benchmark -v`.
 * Timings depend on the machine: nothing here asserts on them. */
#include <stdio.h>
#include <stdlib.h>

#include "mr-test-http.h"

static int
compare_doubles (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return x < y ? -1 : x > y;
}

static void
report (const char *what, double *ms, guint n)
{
  qsort (ms, n, sizeof *ms, compare_doubles);
  printf ("%-12s n=%-5u min %8.3f ms   median %8.3f ms   p90 %8.3f ms\n", what, n, ms[0], ms[n / 2],
          ms[(n * 9) / 10]);
}

static void
fill (MrRunner *r)
{
  for (int i = 0; i < 20; i++)
    {
      g_autofree char *id = g_strdup_printf ("bench-%d", i);
      g_autofree char *json = mr_test_create_json (id);
      g_autofree char *pull = g_strdup_printf ("{\"snapshot\":\"bench/image-%d:1\"}", i);
      g_auto(MrTestReply) a = mr_test_http (r, "POST", "/sandboxes", json);
      g_auto(MrTestReply) b = mr_test_http (r, "POST", "/snapshots/pull", pull);
      g_assert_cmpuint (a.status, ==, 201);
      g_assert_cmpuint (b.status, ==, 200);
    }
  for (int i = 0; i < 160; i++)
    g_assert_cmpuint (mr_test_status (r, "GET", "/sandboxes/bench-1", NULL), ==, 200);
}

static void
bench_start (guint n)
{
  double *ms = g_new (double, n);

  for (guint i = 0; i < n; i++)
    {
      gint64 t0 = g_get_monotonic_time ();
      MrRunner *r = mr_runner_new ();
      g_autoptr(GError) error = NULL;
      g_assert_cmpuint (mr_runner_start (r, &error), !=, 0);
      g_assert_no_error (error);
      ms[i] = (g_get_monotonic_time () - t0) / 1000.0;
      g_object_unref (r);
    }
  report ("start", ms, n);
  for (guint i = 0; i < n; i++)
    {
      MrRunner *r = mr_test_runner_new_started ();
      gint64 t0 = g_get_monotonic_time ();
      g_object_unref (r);
      ms[i] = (g_get_monotonic_time () - t0) / 1000.0;
    }
  report ("stop", ms, n);
  g_free (ms);
}

static void
bench_reset (guint n)
{
  g_autoptr(MrRunner) r = mr_test_runner_new_started ();
  g_autoptr(SoupSession) session = soup_session_new ();
  g_autofree char *url = g_strconcat (mr_runner_get_url (r), "/_mock/reset", NULL);
  g_autofree char *auth = g_strconcat ("Bearer ", mr_runner_get_token (r), NULL);
  double *ms = g_new (double, n);

  for (guint i = 0; i < 20; i++)
    {
      gint64 t0;
      fill (r);
      t0 = g_get_monotonic_time ();
      mr_runner_reset (r);
      ms[i] = (g_get_monotonic_time () - t0) / 1000.0;
    }
  report ("reset", ms, 20);
  for (guint i = 0; i < n; i++)
    {
      gint64 t0 = g_get_monotonic_time ();
      mr_runner_reset (r);
      ms[i] = (g_get_monotonic_time () - t0) / 1000.0;
    }
  report ("reset-empty", ms, n);

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(SoupMessage) msg = soup_message_new ("POST", url);
      g_autoptr(GBytes) body = NULL;
      gint64 t0;
      soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", auth);
      t0 = g_get_monotonic_time ();
      body = soup_session_send_and_read (session, msg, NULL, NULL);
      ms[i] = (g_get_monotonic_time () - t0) / 1000.0;
      g_assert_cmpuint (soup_message_get_status (msg), ==, 204);
    }
  report ("reset-http", ms, n);
  g_free (ms);
}

int
main (int argc, char **argv)
{
  guint n_start = argc > 1 ? (guint) atoi (argv[1]) : 50;
  guint n_reset = argc > 2 ? (guint) atoi (argv[2]) : 1000;

  /* the first start also loads the plugin modules, once per process */
  {
    gint64 t0 = g_get_monotonic_time ();
    MrRunner *first = mr_test_runner_new_started ();
    double ms = (g_get_monotonic_time () - t0) / 1000.0;
    report ("first-start", &ms, 1);
    g_object_unref (first);
  }
  bench_start (n_start);
  bench_reset (n_reset);
  return 0;
}
