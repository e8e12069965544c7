/* mr-toolbox-system.c: GET /system/metrics (toolbox client 0.218's SystemApi).
 *
 * The newer daemon reports its container's cgroup limits and usage, with cpuUsedPct
 * averaged over a 5 s background sampling window. This toolbox has no container of its
 * own: it reports the machine (/proc/stat, /proc/meminfo, the root file system), and
 * cpuUsedPct over the time since the toolbox's previous answer (0 for the first), so
 * that no timer runs for a route few clients call. Byte fields are in bytes. */
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "mr-toolbox-private.h"

#define SYSTEM_AREA "system"

typedef struct {
  guint64 busy, total;          /* /proc/stat jiffies at the previous answer */
  gboolean sampled;
} CpuSample;

/* The first "cpu " line of /proc/stat: (busy, total) jiffies; iowait counts as idle. */
static gboolean
read_cpu_jiffies (guint64 *busy, guint64 *total)
{
  g_autofree char *stat = NULL;
  guint64 v[10] = { 0 };
  const char *p;
  char *end;
  guint n = 0;

  if (!g_file_get_contents ("/proc/stat", &stat, NULL, NULL) || !g_str_has_prefix (stat, "cpu "))
    return FALSE;
  p = stat + 4;
  while (n < G_N_ELEMENTS (v))
    {
      v[n] = g_ascii_strtoull (p, &end, 10);
      if (end == p)
        break;
      p = end;
      n++;
    }
  if (n < 4)
    return FALSE;
  /* user nice system idle iowait irq softirq steal (guest time is inside user) */
  *total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
  *busy = *total - v[3] - v[4];
  return TRUE;
}

/* A "Name:   123 kB" line of /proc/meminfo, in bytes (-1 if absent) */
static gint64
meminfo_bytes (const char *meminfo, const char *name)
{
  gsize len = strlen (name);

  for (const char *line = meminfo; line && *line; line = strchr (line, '\n') ? strchr (line, '\n') + 1 : NULL)
    if (strncmp (line, name, len) == 0 && line[len] == ':')
      return (gint64) g_ascii_strtoull (line + len + 1, NULL, 10) * 1024;
  return -1;
}

static double
cpu_used_pct (MrToolbox *toolbox)
{
  CpuSample *prev = mr_tb_area_get (toolbox, SYSTEM_AREA);
  guint64 busy, total;
  double pct = 0;

  if (!read_cpu_jiffies (&busy, &total))
    return 0;
  if (prev == NULL)
    {
      prev = g_new0 (CpuSample, 1);
      mr_tb_area_set (toolbox, SYSTEM_AREA, prev, g_free);
    }
  if (prev->sampled && total > prev->total && busy >= prev->busy)
    pct = 100.0 * (double) (busy - prev->busy) / (double) (total - prev->total);
  prev->busy = busy;
  prev->total = total;
  prev->sampled = TRUE;
  return pct;
}

static void
handle_metrics (MrTbCall *call)
{
  g_autoptr(JsonObject) o = json_object_new ();
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *timestamp = g_date_time_format (now, "%Y-%m-%dT%H:%M:%SZ");
  g_autofree char *meminfo = NULL;
  struct statvfs fs;

  /* the machine's CPUs, not this process's affinity (as the clients' os.cpus() count) */
  json_object_set_int_member (o, "cpuCount", MAX (sysconf (_SC_NPROCESSORS_ONLN), 1));
  json_object_set_double_member (o, "cpuUsedPct", cpu_used_pct (call->toolbox));
  if (statvfs ("/", &fs) == 0)
    {
      json_object_set_int_member (o, "diskFree", (gint64) fs.f_bavail * fs.f_frsize);
      json_object_set_int_member (o, "diskTotal", (gint64) fs.f_blocks * fs.f_frsize);
      json_object_set_int_member (o, "diskUsed", (gint64) (fs.f_blocks - fs.f_bfree) * fs.f_frsize);
    }
  if (g_file_get_contents ("/proc/meminfo", &meminfo, NULL, NULL))
    {
      gint64 total = meminfo_bytes (meminfo, "MemTotal");
      gint64 available = meminfo_bytes (meminfo, "MemAvailable");
      gint64 cached = meminfo_bytes (meminfo, "Cached");

      json_object_set_int_member (o, "memCache", MAX (cached, 0));
      json_object_set_int_member (o, "memTotal", MAX (total, 0));
      json_object_set_int_member (o, "memUsed", total >= 0 && available >= 0 ? total - available : 0);
    }
  json_object_set_string_member (o, "timestamp", timestamp);
  json_object_set_int_member (o, "timestampUnix", g_date_time_to_unix (now));
  node = json_node_init_object (json_node_alloc (), o);
  mr_tb_reply_json (call, 200, node);
}

static const MrRoute routes[] = {
  { "GET", "/system/metrics", handle_metrics, NULL, 0, "system-metrics" },
};

void
mr_tb_register_system (MrRouter *router)
{
  mr_router_add_all (router, routes, G_N_ELEMENTS (routes));
}
