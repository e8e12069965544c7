/* mr-metrics.h: counters and histograms of one runner, rendered as Prometheus text. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _MrMetrics MrMetrics;

MrMetrics *mr_metrics_new (void);
void       mr_metrics_free (MrMetrics *metrics);
void       mr_metrics_observe_operation (MrMetrics *metrics, const char *operation,
                                         gboolean success, double seconds);
void       mr_metrics_count_request (MrMetrics *metrics, const char *method, const char *route, guint status);
guint64    mr_metrics_get_operation_count (MrMetrics *metrics, const char *operation, gboolean success);
char      *mr_metrics_render (MrMetrics *metrics, gint64 start_time_us);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MrMetrics, mr_metrics_free)

G_END_DECLS
