/* mr-api-health.c: GET / (health), GET /info (runner info with real figures) and
 * GET /metrics (Prometheus text). */
#include <string.h>

#include "mr-runner-private.h"
#include "mr-http.h"

static void
handle_health (MrExchange *ex)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;

  /* keys in the order Go's encoding/json sorts map keys */
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "mode");
  json_builder_add_string_value (b, "mock");
  json_builder_set_member_name (b, "status");
  json_builder_add_string_value (b, "ok");
  json_builder_set_member_name (b, "version");
  json_builder_add_string_value (b, mr_runner_get_version (ex->runner));
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  mr_http_reply_json (ex->msg, 200, root);
}

/* A sandbox whose container would be running holds its CPU and memory. */
static gboolean
holds_resources (MrSandboxState state)
{
  return state == MR_SANDBOX_STATE_STARTED || state == MR_SANDBOX_STATE_STARTING ||
         state == MR_SANDBOX_STATE_STOPPING || state == MR_SANDBOX_STATE_RESIZING;
}

static void
add_double (JsonBuilder *b, const char *name, double value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_double_value (b, value);
}

static void
add_int (JsonBuilder *b, const char *name, gint64 value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_int_value (b, value);
}

/* Quotas are whatever int64 a client sent: a sum that would overflow stays at the limit
 * (signed overflow is undefined behaviour in C; Go would wrap to a negative total). */
static gint64
add_saturating (gint64 total, gint64 value)
{
  gint64 sum;

  if (__builtin_add_overflow (total, value, &sum))
    return value > 0 ? G_MAXINT64 : G_MININT64;
  return sum;
}

static void
handle_info (MrExchange *ex)
{
  MrRunner *runner = ex->runner;
  MrSandboxBackend *sandboxes = mr_runner_get_sandbox_backend (runner);
  MrImageBackend *images = mr_runner_get_image_backend (runner);
  MrToolboxBackend *toolbox = mr_runner_get_toolbox_backend (runner);
  g_autoptr(GPtrArray) all = mr_sandbox_backend_list (sandboxes);
  g_autoptr(GPtrArray) image_list = mr_image_backend_list (images);
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *reason = NULL;
  gint64 cpu = 0, memory = 0, disk = 0, started = 0;
  gboolean healthy;
  MrHostUsage usage;

  for (guint i = 0; i < all->len; i++)
    {
      MrSandbox *s = all->pdata[i];
      if (s->state == MR_SANDBOX_STATE_DESTROYED || s->state == MR_SANDBOX_STATE_DESTROYING)
        continue;
      disk = add_saturating (disk, s->disk);
      if (holds_resources (s->state))
        {
          cpu = add_saturating (cpu, s->cpu);
          memory = add_saturating (memory, s->memory);
        }
      if (s->state == MR_SANDBOX_STATE_STARTED)
        started++;
    }
  mr_host_info_sample (mr_runner_get_host_info (runner), &usage);
  healthy = mr_toolbox_backend_check_health (toolbox, &reason);

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "metrics");
  json_builder_begin_object (b);
  add_double (b, "currentCpuLoadAverage", usage.load_average);
  add_double (b, "currentCpuUsagePercentage", usage.cpu_usage_percent);
  add_double (b, "currentMemoryUsagePercentage", usage.memory_usage_percent);
  add_double (b, "currentDiskUsagePercentage", usage.disk_usage_percent);
  add_int (b, "currentAllocatedCpu", cpu);
  add_int (b, "currentAllocatedMemoryGiB", memory);
  add_int (b, "currentAllocatedDiskGiB", disk);
  add_int (b, "currentSnapshotCount", image_list->len);
  add_int (b, "currentStartedSandboxes", started);
  add_int (b, "cpu", usage.cpu_count);
  add_double (b, "memoryGiB", usage.memory_total_gib);
  add_double (b, "diskGiB", usage.disk_total_gib);
  json_builder_end_object (b);

  json_builder_set_member_name (b, "serviceHealth");
  json_builder_begin_array (b);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "serviceName");
  json_builder_add_string_value (b, mr_toolbox_backend_get_service_name (toolbox));
  json_builder_set_member_name (b, "healthy");
  json_builder_add_boolean_value (b, healthy);
  if (!healthy)
    {
      json_builder_set_member_name (b, "errorReason");
      json_builder_add_string_value (b, reason ? reason : "unhealthy");
    }
  json_builder_end_object (b);
  json_builder_end_array (b);

  /* Dec-2025 runners say "version", June-2026 runners "appVersion": send both */
  json_builder_set_member_name (b, "version");
  json_builder_add_string_value (b, mr_runner_get_version (runner));
  json_builder_set_member_name (b, "appVersion");
  json_builder_add_string_value (b, mr_runner_get_version (runner));
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  mr_http_reply_json (ex->msg, 200, root);
}

static void
handle_metrics (MrExchange *ex)
{
  char *text = mr_metrics_render (mr_runner_get_metrics (ex->runner), mr_runner_get_start_time (ex->runner));

  soup_server_message_set_status (ex->msg, 200, NULL);
  soup_server_message_set_response (ex->msg, "text/plain; version=0.0.4; charset=utf-8; escaping=underscores",
                                    SOUP_MEMORY_TAKE, text, strlen (text));
}

static const MrRoute routes[] = {
  { "GET", "/", handle_health, NULL, MR_ROUTE_PUBLIC, "health" },
  { "GET", "/info", handle_info, NULL, 0, "info" },
  { "GET", "/metrics", handle_metrics, NULL, MR_ROUTE_METRICS, "metrics" },
};

void
mr_api_register_health (MrRouter *router)
{
  mr_router_add_all (router, routes, G_N_ELEMENTS (routes));
}
