/* mr-hostinfo.c: reads /proc/stat, /proc/meminfo, /proc/loadavg and statvfs().
 * CPU usage is the busy share since the previous sample (since boot on the first). */
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "mr-hostinfo.h"

struct _MrHostInfo {
  GMutex lock;
  char *disk_path;
  guint64 last_busy;
  guint64 last_total;
  double last_percent;
};

MrHostInfo *
mr_host_info_new (const char *disk_path)
{
  MrHostInfo *info = g_new0 (MrHostInfo, 1);

  g_mutex_init (&info->lock);
  info->disk_path = g_strdup (disk_path ? disk_path : "/");
  return info;
}

void
mr_host_info_free (MrHostInfo *info)
{
  if (info == NULL)
    return;
  g_free (info->disk_path);
  g_mutex_clear (&info->lock);
  g_free (info);
}

static void
read_cpu (MrHostInfo *info, MrHostUsage *usage)
{
  g_autofree char *stat = NULL;
  guint64 v[10] = { 0 };
  guint64 busy, total;

  if (!g_file_get_contents ("/proc/stat", &stat, NULL, NULL) || !g_str_has_prefix (stat, "cpu "))
    return;
  sscanf (stat + 4, "%" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT
          " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT,
          &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
  total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
  busy = total - v[3] - v[4];   /* idle and iowait */
  if (total > info->last_total)
    info->last_percent = 100.0 * (double) (busy - info->last_busy) / (double) (total - info->last_total);
  info->last_busy = busy;
  info->last_total = total;
  usage->cpu_usage_percent = info->last_percent;
}

static guint64
meminfo_kib (const char *meminfo, const char *key)
{
  const char *p = strstr (meminfo, key);

  return p ? g_ascii_strtoull (p + strlen (key), NULL, 10) : 0;
}

void
mr_host_info_sample (MrHostInfo *info, MrHostUsage *usage)
{
  g_autofree char *meminfo = NULL;
  g_autofree char *loadavg = NULL;
  struct statvfs vfs;

  memset (usage, 0, sizeof *usage);
  g_mutex_lock (&info->lock);
  read_cpu (info, usage);
  g_mutex_unlock (&info->lock);

  usage->cpu_count = g_get_num_processors ();
  if (g_file_get_contents ("/proc/meminfo", &meminfo, NULL, NULL))
    {
      guint64 total = meminfo_kib (meminfo, "MemTotal:");
      guint64 available = meminfo_kib (meminfo, "MemAvailable:");
      if (total > 0)
        {
          usage->memory_usage_percent = 100.0 * (double) (total - available) / (double) total;
          usage->memory_total_gib = total / (1024.0 * 1024.0);
        }
    }
  if (g_file_get_contents ("/proc/loadavg", &loadavg, NULL, NULL))
    usage->load_average = g_ascii_strtod (loadavg, NULL);
  if (statvfs (info->disk_path, &vfs) == 0 && vfs.f_blocks > 0)
    {
      double total = (double) vfs.f_blocks * vfs.f_frsize;
      double avail = (double) vfs.f_bavail * vfs.f_frsize;
      double used = (double) (vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize;
      usage->disk_usage_percent = 100.0 * used / (used + avail);
      usage->disk_total_gib = total / (1024.0 * 1024.0 * 1024.0);
    }
}
