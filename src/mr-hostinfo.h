/* mr-hostinfo.h: host CPU, memory and disk usage for /info. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  double cpu_usage_percent;
  double memory_usage_percent;
  double disk_usage_percent;
  double load_average;
  guint cpu_count;
  double memory_total_gib;
  double disk_total_gib;
} MrHostUsage;

typedef struct _MrHostInfo MrHostInfo;

MrHostInfo *mr_host_info_new (const char *disk_path);
void        mr_host_info_free (MrHostInfo *info);
void        mr_host_info_sample (MrHostInfo *info, MrHostUsage *usage);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MrHostInfo, mr_host_info_free)

G_END_DECLS
