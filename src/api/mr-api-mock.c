/* mr-api-mock.c: the test controls over HTTP, under /_mock/ (docs/mock-api.md).
 *
 * They need the runner's token like every Daytona route, and live under a prefix no
 * Daytona route uses. They are neither journaled nor subject to fault rules, so a test
 * can always inspect and undo what it set up. Each handler runs on the server thread,
 * where the stores live. */
#include <math.h>
#include <string.h>

#include "mr-runner-private.h"
#include "mr-error.h"
#include "mr-http.h"

static void
reply_invalid (MrExchange *ex, const char *format, ...) G_GNUC_PRINTF (2, 3);

static void
reply_invalid (MrExchange *ex, const char *format, ...)
{
  va_list args;
  g_autofree char *message = NULL;
  g_autoptr(GError) error = NULL;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  error = g_error_new_literal (MR_ERROR, MR_ERROR_INVALID_ARGUMENT, message);
  mr_http_reply_gerror (ex->msg, error);
}

/* The body as a JSON node; an empty body reads as @empty_ok ? {} : an error. Answers
 * 400 and returns NULL when it is not JSON. */
static JsonNode *
parse_body (MrExchange *ex, gboolean empty_ok)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  gsize size = ex->body ? g_bytes_get_size (ex->body) : 0;
  const char *data = ex->body ? g_bytes_get_data (ex->body, NULL) : NULL;

  if (size == 0)
    {
      if (empty_ok)
        {
          g_autoptr(JsonObject) empty = json_object_new ();
          return json_node_init_object (json_node_alloc (), empty);
        }
      reply_invalid (ex, "a JSON body is required");
      return NULL;
    }
  if (!json_parser_load_from_data (parser, data, (gssize) size, &error))
    {
      reply_invalid (ex, "invalid JSON: %s", error->message);
      return NULL;
    }
  return json_node_ref (json_parser_get_root (parser));
}

static JsonObject *
require_object (MrExchange *ex, JsonNode *node)
{
  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      reply_invalid (ex, "expected a JSON object");
      return NULL;
    }
  return json_node_get_object (node);
}

/* A misspelt member must not be ignored: {"sandboxID": "sb-1"} would advance every
 * sandbox. Answers 400 and returns FALSE when @o has a member not in @known. */
static gboolean
only_known_members (MrExchange *ex, JsonObject *o, const char *const *known)
{
  g_autoptr(GList) members = json_object_get_members (o);

  for (GList *l = members; l; l = l->next)
    if (!g_strv_contains (known, l->data))
      {
        reply_invalid (ex, "unknown field '%s'", (char *) l->data);
        return FALSE;
      }
  return TRUE;
}

static void
reply_empty (MrExchange *ex)
{
  mr_http_reply_bodiless (ex->msg, SOUP_STATUS_NO_CONTENT);
}

/* /_mock/requests ------------------------------------------------------------------- */

static void
handle_requests (MrExchange *ex)
{
  MrJournal *journal = mr_runner_get_journal (ex->runner);
  g_autoptr(GPtrArray) entries = mr_journal_query (journal, mr_exchange_query (ex, "method"),
                                                   mr_exchange_query (ex, "path"),
                                                   mr_exchange_query (ex, "sandboxId"));
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "requests");
  json_builder_begin_array (b);
  for (guint i = 0; i < entries->len; i++)
    json_builder_add_value (b, mr_journal_entry_to_json (entries->pdata[i]));
  json_builder_end_array (b);
  json_builder_set_member_name (b, "count");
  json_builder_add_int_value (b, entries->len);
  json_builder_set_member_name (b, "dropped");
  json_builder_add_int_value (b, (gint64) mr_journal_get_dropped (journal));
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  mr_http_reply_json (ex->msg, 200, root);
}

static void
handle_clear_requests (MrExchange *ex)
{
  mr_journal_clear (mr_runner_get_journal (ex->runner));
  reply_empty (ex);
}

/* /_mock/reset ---------------------------------------------------------------------- */

static void
handle_reset (MrExchange *ex)
{
  mr_runner_reset (ex->runner);
  reply_empty (ex);
}

/* /_mock/seed ----------------------------------------------------------------------- */

static void
reply_seed (MrExchange *ex)
{
  gint64 seed = mr_runner_get_seed (ex->runner);
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "seed");
  if (seed >= 0)
    json_builder_add_int_value (b, seed);
  else
    json_builder_add_null_value (b);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  mr_http_reply_json (ex->msg, 200, root);
}

static void
handle_get_seed (MrExchange *ex)
{
  reply_seed (ex);
}

static void
handle_set_seed (MrExchange *ex)
{
  const char *from_query = mr_exchange_query (ex, "seed");
  g_autoptr(JsonNode) body = NULL;
  gint64 seed;

  if (from_query && (ex->body == NULL || g_bytes_get_size (ex->body) == 0))
    {
      guint64 n;
      if (!g_ascii_string_to_unsigned (from_query, 10, 0, G_MAXINT64, &n, NULL))
        {
          reply_invalid (ex, "seed must be a non-negative integer");
          return;
        }
      seed = (gint64) n;
    }
  else
    {
      JsonObject *o;
      JsonNode *value;
      static const char *const known[] = { "seed", NULL };
      if (!(body = parse_body (ex, FALSE)) || !(o = require_object (ex, body)) || !only_known_members (ex, o, known))
        return;
      value = json_object_get_member (o, "seed");
      if (value == NULL)
        {
          reply_invalid (ex, "seed is required (an integer, or null to unseed)");
          return;
        }
      if (JSON_NODE_HOLDS_NULL (value))
        seed = -1;
      else if (JSON_NODE_HOLDS_VALUE (value) && json_node_get_value_type (value) == G_TYPE_INT64 &&
               json_node_get_int (value) >= 0)
        seed = json_node_get_int (value);
      else
        {
          reply_invalid (ex, "seed must be a non-negative integer or null");
          return;
        }
    }
  mr_runner_set_seed (ex->runner, seed);
  reply_seed (ex);
}

/* /_mock/timing ---------------------------------------------------------------------- */

static void
reply_timing (MrExchange *ex)
{
  g_autoptr(JsonNode) root = mr_timing_to_json (mr_runner_get_timing_state (ex->runner));

  mr_http_reply_json (ex->msg, 200, root);
}

static void
handle_get_timing (MrExchange *ex)
{
  reply_timing (ex);
}

/* {"mode": "immediate" | "delay" | "manual", "delayMs": n} */
static void
set_timing (MrExchange *ex, const char *sandbox_id)
{
  static const char *const known[] = { "mode", "delayMs", NULL };
  g_autoptr(JsonNode) body = parse_body (ex, FALSE);
  JsonObject *o;
  JsonNode *delay, *mode_node;
  const char *mode_name;
  MrTimingMode mode;
  gint64 delay_ms = 0;

  if (body == NULL || !(o = require_object (ex, body)) || !only_known_members (ex, o, known))
    return;
  mode_node = json_object_get_member (o, "mode");
  /* only a string is a mode (json-glib would warn about reading an object as one) */
  mode_name = mode_node && JSON_NODE_HOLDS_VALUE (mode_node) && json_node_get_value_type (mode_node) == G_TYPE_STRING
              ? json_node_get_string (mode_node) : NULL;
  if (!mr_timing_mode_from_string (mode_name, &mode))
    {
      reply_invalid (ex, "mode must be \"immediate\", \"delay\" or \"manual\"");
      return;
    }
  delay = json_object_get_member (o, "delayMs");
  if (delay)
    {
      if (!JSON_NODE_HOLDS_VALUE (delay) || json_node_get_value_type (delay) != G_TYPE_INT64 ||
          json_node_get_int (delay) < 0 || json_node_get_int (delay) > 10 * 60 * 1000)
        {
          reply_invalid (ex, "delayMs must be an integer from 0 to 600000");
          return;
        }
      delay_ms = json_node_get_int (delay);
    }
  if (mode == MR_TIMING_MODE_DELAY && delay_ms == 0)
    {
      reply_invalid (ex, "delay mode needs delayMs > 0");
      return;
    }
  mr_timing_set (mr_runner_get_timing_state (ex->runner), sandbox_id, mode, (guint) delay_ms);
  reply_timing (ex);
}

static void
handle_set_timing (MrExchange *ex)
{
  set_timing (ex, NULL);
}

static void
handle_set_sandbox_timing (MrExchange *ex)
{
  set_timing (ex, mr_exchange_param (ex, "sandbox"));
}

static void
handle_unset_sandbox_timing (MrExchange *ex)
{
  mr_timing_unset (mr_runner_get_timing_state (ex->runner), mr_exchange_param (ex, "sandbox"));
  reply_empty (ex);
}

/* {"sandboxId": "..."} or {} for every sandbox */
static void
handle_advance (MrExchange *ex)
{
  static const char *const known[] = { "sandboxId", NULL };
  g_autoptr(JsonNode) body = parse_body (ex, TRUE);
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  JsonObject *o;
  JsonNode *id;
  guint n;

  if (body == NULL || !(o = require_object (ex, body)) || !only_known_members (ex, o, known))
    return;
  id = json_object_get_member (o, "sandboxId");
  if (id && !JSON_NODE_HOLDS_NULL (id) &&
      !(JSON_NODE_HOLDS_VALUE (id) && json_node_get_value_type (id) == G_TYPE_STRING))
    {
      reply_invalid (ex, "sandboxId must be a string");
      return;
    }
  n = mr_timing_advance (mr_runner_get_timing_state (ex->runner),
                         id && !JSON_NODE_HOLDS_NULL (id) ? json_node_get_string (id) : NULL);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "advanced");
  json_builder_add_int_value (b, n);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  mr_http_reply_json (ex->msg, 200, root);
}

/* /_mock/clock ------------------------------------------------------------------------- */

/* {"offsetSeconds": how far ahead of the real time, "now": the runner's time (RFC 3339)};
 * also the answer to an advance */
static void
handle_get_clock (MrExchange *ex)
{
  gint64 offset = mr_runner_get_clock_offset (ex->runner);
  gint64 now = mr_runner_get_real_time (ex->runner);
  g_autoptr(GDateTime) seconds = g_date_time_new_from_unix_utc (now / G_USEC_PER_SEC);
  g_autoptr(GDateTime) precise = g_date_time_add (seconds, now % G_USEC_PER_SEC);
  g_autofree char *text = g_date_time_format_iso8601 (precise);
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "offsetSeconds");
  if (offset % G_USEC_PER_SEC == 0)
    json_builder_add_int_value (b, offset / G_USEC_PER_SEC);
  else
    json_builder_add_double_value (b, (double) offset / G_USEC_PER_SEC);
  json_builder_set_member_name (b, "now");
  json_builder_add_string_value (b, text);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  mr_http_reply_json (ex->msg, 200, root);
}

/* {"advanceSeconds": n}, n >= 0, fractions allowed */
static void
handle_advance_clock (MrExchange *ex)
{
  g_autoptr(JsonNode) body = parse_body (ex, FALSE);
  g_autoptr(GError) error = NULL;
  g_autoptr(GList) members = NULL;
  JsonObject *o;
  JsonNode *value;
  double seconds;

  if (body == NULL || !(o = require_object (ex, body)))
    return;
  members = json_object_get_members (o);
  for (GList *l = members; l; l = l->next)
    if (strcmp (l->data, "advanceSeconds") != 0)
      {
        reply_invalid (ex, "unknown field '%s' (expected advanceSeconds)", (const char *) l->data);
        return;
      }
  value = json_object_get_member (o, "advanceSeconds");
  if (value == NULL || !JSON_NODE_HOLDS_VALUE (value) ||
      (json_node_get_value_type (value) != G_TYPE_INT64 && json_node_get_value_type (value) != G_TYPE_DOUBLE))
    {
      reply_invalid (ex, "advanceSeconds is required: a number of seconds, 0 or more");
      return;
    }
  seconds = json_node_get_value_type (value) == G_TYPE_INT64 ? (double) json_node_get_int (value)
                                                              : json_node_get_double (value);
  /* checked before the conversion: a huge double does not fit a gint64 */
  if (!isfinite (seconds) || seconds < 0 || seconds * G_USEC_PER_SEC > (double) MR_CLOCK_MAX_OFFSET_US)
    {
      reply_invalid (ex, "advanceSeconds must be a number of seconds from 0 to %" G_GINT64_FORMAT,
                     (gint64) (MR_CLOCK_MAX_OFFSET_US / G_USEC_PER_SEC));
      return;
    }
  if (!mr_runner_advance_clock (ex->runner, (gint64) (seconds * G_USEC_PER_SEC + 0.5), &error))
    {
      mr_http_reply_gerror (ex->msg, error);
      return;
    }
  handle_get_clock (ex);
}

/* /_mock/faults ------------------------------------------------------------------------ */

static void
handle_list_faults (MrExchange *ex)
{
  g_autoptr(GPtrArray) rules = mr_faults_list (mr_runner_get_fault_set (ex->runner));
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "faults");
  json_builder_begin_array (b);
  for (guint i = 0; i < rules->len; i++)
    json_builder_add_value (b, mr_fault_rule_to_json (rules->pdata[i]));
  json_builder_end_array (b);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  mr_http_reply_json (ex->msg, 200, root);
}

static void
handle_add_fault (MrExchange *ex)
{
  g_autoptr(JsonNode) body = parse_body (ex, FALSE);
  g_autoptr(MrFaultRule) rule = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *id = NULL;
  MrFaults *faults = mr_runner_get_fault_set (ex->runner);

  if (body == NULL)
    return;
  rule = mr_fault_rule_new_from_json_node (body, &error);
  if (rule == NULL || !(id = mr_faults_add (faults, rule, &error)))
    {
      mr_http_reply_gerror (ex->msg, error);
      return;
    }
  {
    g_autoptr(GPtrArray) rules = mr_faults_list (faults);
    for (guint i = 0; i < rules->len; i++)
      if (g_strcmp0 (mr_fault_rule_get_id (rules->pdata[i]), id) == 0)
        {
          g_autoptr(JsonNode) root = mr_fault_rule_to_json (rules->pdata[i]);
          mr_http_reply_json (ex->msg, 201, root);
        }
  }
}

static void
handle_clear_faults (MrExchange *ex)
{
  mr_faults_clear (mr_runner_get_fault_set (ex->runner));
  reply_empty (ex);
}

static void
handle_remove_fault (MrExchange *ex)
{
  const char *id = mr_exchange_param (ex, "fault");

  if (!mr_faults_remove (mr_runner_get_fault_set (ex->runner), id))
    {
      g_autoptr(GError) error = g_error_new (MR_ERROR, MR_ERROR_NOT_FOUND, "no fault rule '%s'", id);
      mr_http_reply_gerror (ex->msg, error);
      return;
    }
  reply_empty (ex);
}

/* /_mock/state --------------------------------------------------------------------------- */

static void
handle_get_state (MrExchange *ex)
{
  g_autoptr(JsonNode) root = mr_state_export (ex->runner);

  mr_http_reply_json (ex->msg, 200, root);
}

static void
handle_put_state (MrExchange *ex)
{
  g_autoptr(JsonNode) body = parse_body (ex, FALSE);
  g_autoptr(GError) error = NULL;

  if (body == NULL)
    return;
  if (!mr_state_import (ex->runner, body, &error))
    {
      mr_http_reply_gerror (ex->msg, error);
      return;
    }
  reply_empty (ex);
}

static const MrRoute routes[] = {
  { "GET", "/_mock/requests", handle_requests, NULL, MR_ROUTE_CONTROL, "mock-requests" },
  { "DELETE", "/_mock/requests", handle_clear_requests, NULL, MR_ROUTE_CONTROL, "mock-requests-clear" },
  { "POST", "/_mock/reset", handle_reset, NULL, MR_ROUTE_CONTROL, "mock-reset" },
  { "GET", "/_mock/seed", handle_get_seed, NULL, MR_ROUTE_CONTROL, "mock-seed" },
  { "POST", "/_mock/seed", handle_set_seed, NULL, MR_ROUTE_CONTROL, "mock-seed-set" },
  { "GET", "/_mock/timing", handle_get_timing, NULL, MR_ROUTE_CONTROL, "mock-timing" },
  { "PUT", "/_mock/timing", handle_set_timing, NULL, MR_ROUTE_CONTROL, "mock-timing-set" },
  { "POST", "/_mock/timing/advance", handle_advance, NULL, MR_ROUTE_CONTROL, "mock-timing-advance" },
  { "PUT", "/_mock/timing/{sandbox}", handle_set_sandbox_timing, NULL, MR_ROUTE_CONTROL, "mock-timing-sandbox" },
  { "DELETE", "/_mock/timing/{sandbox}", handle_unset_sandbox_timing, NULL, MR_ROUTE_CONTROL,
    "mock-timing-sandbox-unset" },
  { "GET", "/_mock/clock", handle_get_clock, NULL, MR_ROUTE_CONTROL, "mock-clock" },
  { "POST", "/_mock/clock", handle_advance_clock, NULL, MR_ROUTE_CONTROL, "mock-clock-advance" },
  { "GET", "/_mock/faults", handle_list_faults, NULL, MR_ROUTE_CONTROL, "mock-faults" },
  { "POST", "/_mock/faults", handle_add_fault, NULL, MR_ROUTE_CONTROL, "mock-faults-add" },
  { "DELETE", "/_mock/faults", handle_clear_faults, NULL, MR_ROUTE_CONTROL, "mock-faults-clear" },
  { "DELETE", "/_mock/faults/{fault}", handle_remove_fault, NULL, MR_ROUTE_CONTROL, "mock-faults-remove" },
  { "GET", "/_mock/state", handle_get_state, NULL, MR_ROUTE_CONTROL, "mock-state" },
  { "PUT", "/_mock/state", handle_put_state, NULL, MR_ROUTE_CONTROL, "mock-state-set" },
};

void
mr_api_register_mock (MrRouter *router)
{
  mr_router_add_all (router, routes, G_N_ELEMENTS (routes));
}
