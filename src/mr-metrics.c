/* mr-metrics.c: the Go mock's metric names, with real counts.
 *
 *   mock_runner_container_operation_total{operation,status}   counter
 *   mock_runner_container_operation_duration_seconds{operation} histogram
 *   mock_runner_http_requests_total{method,route,code}         counter
 *   process_* from /proc/self, as client_golang's process collector does;
 *   promhttp_metric_handler_requests_{in_flight,total}, as client_golang's default handler
 *   reports its own scrapes (the scrape being served is in flight, not yet counted).
 *
 * Like client_golang's registry, a vector with no series is left out, HELP/TYPE included
 * (the Go mock's /metrics shows no mock_runner_* family before the first operation).
 * Guarded by a mutex: rendering may run while another thread reads counts. */
#include <string.h>
#include <unistd.h>

#include "mr-metrics.h"

static const double buckets[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };

typedef struct {
  guint64 success;
  guint64 failure;
  guint64 bucket_counts[G_N_ELEMENTS (buckets)];
  guint64 count;
  double sum;
} Operation;

struct _MrMetrics {
  GMutex lock;
  GHashTable *operations;   /* name -> Operation */
  GHashTable *requests;     /* "method\troute\tcode" -> guint64* */
  /* the counter of the last request counted: most requests count where the one before
   * did, so they skip building the key and looking it up */
  char *last_method;
  char *last_route;
  guint last_status;
  guint64 *last_count;
};

MrMetrics *
mr_metrics_new (void)
{
  MrMetrics *m = g_new0 (MrMetrics, 1);

  g_mutex_init (&m->lock);
  m->operations = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  m->requests = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  return m;
}

void
mr_metrics_free (MrMetrics *m)
{
  if (m == NULL)
    return;
  g_hash_table_unref (m->operations);
  g_hash_table_unref (m->requests);
  g_free (m->last_method);
  g_free (m->last_route);
  g_mutex_clear (&m->lock);
  g_free (m);
}

void
mr_metrics_observe_operation (MrMetrics *m, const char *operation, gboolean success, double seconds)
{
  Operation *op;

  g_mutex_lock (&m->lock);
  op = g_hash_table_lookup (m->operations, operation);
  if (op == NULL)
    {
      op = g_new0 (Operation, 1);
      g_hash_table_insert (m->operations, g_strdup (operation), op);
    }
  if (success)
    op->success++;
  else
    op->failure++;
  for (guint i = 0; i < G_N_ELEMENTS (buckets); i++)
    if (seconds <= buckets[i])
      op->bucket_counts[i]++;
  op->count++;
  op->sum += seconds;
  g_mutex_unlock (&m->lock);
}

guint64
mr_metrics_get_operation_count (MrMetrics *m, const char *operation, gboolean success)
{
  Operation *op;
  guint64 n = 0;

  g_mutex_lock (&m->lock);
  op = g_hash_table_lookup (m->operations, operation);
  if (op)
    n = success ? op->success : op->failure;
  g_mutex_unlock (&m->lock);
  return n;
}

void
mr_metrics_count_request (MrMetrics *m, const char *method, const char *route, guint status)
{
  /* on the stack: a key is allocated only the first time it is counted */
  char buffer[256];
  g_autofree char *long_key = NULL;
  const char *key = buffer;
  guint64 *n;

  g_mutex_lock (&m->lock);
  if (m->last_count && status == m->last_status && strcmp (route, m->last_route) == 0 &&
      strcmp (method, m->last_method) == 0)
    {
      (*m->last_count)++;
      g_mutex_unlock (&m->lock);
      return;
    }
  if ((gsize) g_snprintf (buffer, sizeof buffer, "%s\t%s\t%u", method, route, status) >= sizeof buffer)
    key = long_key = g_strdup_printf ("%s\t%s\t%u", method, route, status);
  n = g_hash_table_lookup (m->requests, key);
  if (n == NULL)
    {
      n = g_new0 (guint64, 1);
      g_hash_table_insert (m->requests, g_strdup (key), n);
    }
  (*n)++;
  g_free (m->last_method);
  g_free (m->last_route);
  m->last_method = g_strdup (method);
  m->last_route = g_strdup (route);
  m->last_status = status;
  m->last_count = n;
  g_mutex_unlock (&m->lock);
}

static void
append_label_value (GString *out, const char *value)
{
  for (const char *p = value; *p; p++)
    {
      if (*p == '\\' || *p == '"')
        g_string_append_c (out, '\\');
      if (*p == '\n')
        {
          g_string_append (out, "\\n");
          continue;
        }
      g_string_append_c (out, *p);
    }
}

static GList *
sorted_keys (GHashTable *table)
{
  return g_list_sort (g_hash_table_get_keys (table), (GCompareFunc) g_strcmp0);
}

static void
render_process (GString *out, gint64 start_time_us)
{
  g_autofree char *stat = NULL;
  g_autofree char *status = NULL;
  guint64 open_fds = 0;
  g_autoptr(GDir) fds = g_dir_open ("/proc/self/fd", 0, NULL);
  long ticks = sysconf (_SC_CLK_TCK);

  if (g_file_get_contents ("/proc/self/stat", &stat, NULL, NULL))
    {
      /* fields after the command name: utime is field 14, stime 15, rss 24 */
      const char *p = strrchr (stat, ')');
      g_auto(GStrv) f = p ? g_strsplit (p + 2, " ", -1) : NULL;
      if (f && g_strv_length (f) > 22 && ticks > 0)
        {
          double cpu = (g_ascii_strtod (f[11], NULL) + g_ascii_strtod (f[12], NULL)) / ticks;
          double vsize = g_ascii_strtod (f[20], NULL);
          double rss = g_ascii_strtod (f[21], NULL) * sysconf (_SC_PAGESIZE);
          g_string_append_printf (out,
            "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
            "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %g\n"
            "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
            "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %.0f\n"
            "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
            "# TYPE process_virtual_memory_bytes gauge\nprocess_virtual_memory_bytes %.0f\n",
            cpu, rss, vsize);
        }
    }
  if (fds)
    while (g_dir_read_name (fds))
      open_fds++;
  g_string_append_printf (out,
    "# HELP process_open_fds Number of open file descriptors.\n"
    "# TYPE process_open_fds gauge\nprocess_open_fds %" G_GUINT64_FORMAT "\n"
    "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n"
    "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %.3f\n",
    open_fds, start_time_us / 1e6);
}

/* client_golang pre-creates the three codes its handler can answer */
static const char *const scrape_codes[] = { "200", "500", "503" };

static void
render_handler (GString *out, const guint64 *scrapes)
{
  g_string_append (out,
    "# HELP promhttp_metric_handler_requests_in_flight Current number of scrapes being served.\n"
    "# TYPE promhttp_metric_handler_requests_in_flight gauge\n"
    "promhttp_metric_handler_requests_in_flight 1\n"
    "# HELP promhttp_metric_handler_requests_total Total number of scrapes by HTTP status code.\n"
    "# TYPE promhttp_metric_handler_requests_total counter\n");
  for (guint i = 0; i < G_N_ELEMENTS (scrape_codes); i++)
    g_string_append_printf (out, "promhttp_metric_handler_requests_total{code=\"%s\"} %" G_GUINT64_FORMAT "\n",
                            scrape_codes[i], scrapes[i]);
}

char *
mr_metrics_render (MrMetrics *m, gint64 start_time_us)
{
  guint64 scrapes[G_N_ELEMENTS (scrape_codes)] = { 0 };
  GString *out = g_string_new (NULL);
  g_autoptr(GList) ops = NULL;
  g_autoptr(GList) reqs = NULL;

  g_mutex_lock (&m->lock);
  ops = sorted_keys (m->operations);

  if (ops)
    g_string_append (out,
      "# HELP mock_runner_container_operation_duration_seconds Duration of container operations\n"
      "# TYPE mock_runner_container_operation_duration_seconds histogram\n");
  for (GList *l = ops; l; l = l->next)
    {
      Operation *op = g_hash_table_lookup (m->operations, l->data);
      for (guint i = 0; i < G_N_ELEMENTS (buckets); i++)
        g_string_append_printf (out,
          "mock_runner_container_operation_duration_seconds_bucket{operation=\"%s\",le=\"%g\"} %" G_GUINT64_FORMAT "\n",
          (char *) l->data, buckets[i], op->bucket_counts[i]);
      g_string_append_printf (out,
        "mock_runner_container_operation_duration_seconds_bucket{operation=\"%s\",le=\"+Inf\"} %" G_GUINT64_FORMAT "\n"
        "mock_runner_container_operation_duration_seconds_sum{operation=\"%s\"} %.9f\n"
        "mock_runner_container_operation_duration_seconds_count{operation=\"%s\"} %" G_GUINT64_FORMAT "\n",
        (char *) l->data, op->count, (char *) l->data, op->sum, (char *) l->data, op->count);
    }

  if (ops)
    g_string_append (out,
      "# HELP mock_runner_container_operation_total Total number of container operations\n"
      "# TYPE mock_runner_container_operation_total counter\n");
  for (GList *l = ops; l; l = l->next)
    {
      Operation *op = g_hash_table_lookup (m->operations, l->data);
      if (op->failure)
        g_string_append_printf (out,
          "mock_runner_container_operation_total{operation=\"%s\",status=\"failure\"} %" G_GUINT64_FORMAT "\n",
          (char *) l->data, op->failure);
      if (op->success)
        g_string_append_printf (out,
          "mock_runner_container_operation_total{operation=\"%s\",status=\"success\"} %" G_GUINT64_FORMAT "\n",
          (char *) l->data, op->success);
    }

  reqs = sorted_keys (m->requests);
  if (reqs)
    g_string_append (out,
      "# HELP mock_runner_http_requests_total Total number of HTTP requests served\n"
      "# TYPE mock_runner_http_requests_total counter\n");
  for (GList *l = reqs; l; l = l->next)
    {
      g_auto(GStrv) parts = g_strsplit (l->data, "\t", 3);
      g_string_append (out, "mock_runner_http_requests_total{code=\"");
      append_label_value (out, parts[2]);
      g_string_append (out, "\",method=\"");
      append_label_value (out, parts[0]);
      g_string_append (out, "\",route=\"");
      append_label_value (out, parts[1]);
      g_string_append_printf (out, "\"} %" G_GUINT64_FORMAT "\n",
                              *(guint64 *) g_hash_table_lookup (m->requests, l->data));
    }
  for (guint i = 0; i < G_N_ELEMENTS (scrape_codes); i++)
    {
      g_autofree char *key = g_strdup_printf ("GET\t/metrics\t%s", scrape_codes[i]);
      guint64 *n = g_hash_table_lookup (m->requests, key);
      scrapes[i] = n ? *n : 0;
    }
  g_mutex_unlock (&m->lock);

  render_process (out, start_time_us);
  render_handler (out, scrapes);
  return g_string_free (out, FALSE);
}
