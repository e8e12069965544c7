/* mr-faults.c: fault and latency rules, and where they act on a request.
 *
 * Rules are checked in the early handler, after routing and authentication and before
 * the route sees the request: an unknown route still answers 404 and a bad token 401,
 * and /_mock/ routes are never faulted (a test must always be able to remove a rule).
 * The first rule that matches, still has hits left and wins its probability draw acts;
 * the draw comes from the runner's seeded random source, so a seeded run faults the
 * same requests every time.
 *
 * Delays pause the message and unpause it from a timeout on the server context; the
 * request then continues where it stopped (the route's early handler, then the body).
 * A drop steals the connection from an idle callback, outside libsoup's I/O loop, and
 * closes it. */
#include <string.h>

#include "mr-runner-private.h"
#include "mr-error.h"
#include "mr-http.h"

struct _MrFaultRule {
  char *id;
  MrFaultAction action;
  char *method;
  char *path;
  char *sandbox_id;
  guint status;
  char *code;
  char *message;
  guint delay_ms;
  guint times;
  double probability;
  guint hits;
};

G_DEFINE_BOXED_TYPE (MrFaultRule, mr_fault_rule, mr_fault_rule_copy, mr_fault_rule_free)

/**
 * mr_fault_rule_new:
 * @action: what the rule does
 *
 * A rule that matches every request (set a method, path or sandbox id to narrow it),
 * fires every time (see mr_fault_rule_set_times() and mr_fault_rule_set_probability())
 * and, for %MR_FAULT_ACTION_ERROR, answers 500.
 *
 * Returns: (transfer full): a new rule
 */
MrFaultRule *
mr_fault_rule_new (MrFaultAction action)
{
  MrFaultRule *rule = g_new0 (MrFaultRule, 1);

  rule->action = action;
  rule->probability = 1.0;
  return rule;
}

/**
 * mr_fault_rule_copy:
 * @rule: a rule
 *
 * Returns: (transfer full): a copy of @rule
 */
MrFaultRule *
mr_fault_rule_copy (const MrFaultRule *rule)
{
  MrFaultRule *copy = g_memdup2 (rule, sizeof *rule);

  copy->id = g_strdup (rule->id);
  copy->method = g_strdup (rule->method);
  copy->path = g_strdup (rule->path);
  copy->sandbox_id = g_strdup (rule->sandbox_id);
  copy->code = g_strdup (rule->code);
  copy->message = g_strdup (rule->message);
  return copy;
}

/**
 * mr_fault_rule_free:
 * @rule: a rule
 *
 * Frees @rule.
 */
void
mr_fault_rule_free (MrFaultRule *rule)
{
  if (rule == NULL)
    return;
  g_free (rule->id);
  g_free (rule->method);
  g_free (rule->path);
  g_free (rule->sandbox_id);
  g_free (rule->code);
  g_free (rule->message);
  g_free (rule);
}

static void
set_string (char **field, const char *value)
{
  g_free (*field);
  *field = value && *value ? g_strdup (value) : NULL;
}

/**
 * mr_fault_rule_set_method:
 * @rule: a rule
 * @method: (nullable): only requests with this method (any case); %NULL or "*" for all
 */
void
mr_fault_rule_set_method (MrFaultRule *rule, const char *method)
{
  set_string (&rule->method, method && strcmp (method, "*") == 0 ? NULL : method);
}

/**
 * mr_fault_rule_set_path:
 * @rule: a rule
 * @path: (nullable): only requests whose path matches this glob ('*' matches any run of
 *   characters, '/' included) or that the route of exactly this pattern serves
 *   (e.g. "/sandboxes/{id}/start"); %NULL for all
 */
void
mr_fault_rule_set_path (MrFaultRule *rule, const char *path)
{
  set_string (&rule->path, path);
}

/**
 * mr_fault_rule_set_sandbox_id:
 * @rule: a rule
 * @sandbox_id: (nullable): only requests about this sandbox (/sandboxes/{id}/...); %NULL for all
 */
void
mr_fault_rule_set_sandbox_id (MrFaultRule *rule, const char *sandbox_id)
{
  set_string (&rule->sandbox_id, sandbox_id);
}

/**
 * mr_fault_rule_set_status:
 * @rule: a rule
 * @status: the status an error rule answers (400 to 599); 0 means 500
 */
void
mr_fault_rule_set_status (MrFaultRule *rule, guint status)
{
  rule->status = status;
}

/**
 * mr_fault_rule_set_code:
 * @rule: a rule
 * @code: (nullable): the "code" of the error body; %NULL derives it from the status
 *   (503 gives "SERVICE_UNAVAILABLE")
 */
void
mr_fault_rule_set_code (MrFaultRule *rule, const char *code)
{
  set_string (&rule->code, code);
}

/**
 * mr_fault_rule_set_message:
 * @rule: a rule
 * @message: (nullable): the "message" of the error body; %NULL for a default that names
 *   the rule
 */
void
mr_fault_rule_set_message (MrFaultRule *rule, const char *message)
{
  set_string (&rule->message, message);
}

/**
 * mr_fault_rule_set_delay:
 * @rule: a rule
 * @delay_ms: milliseconds to wait before serving (delay), answering (error) or
 *   closing (drop)
 */
void
mr_fault_rule_set_delay (MrFaultRule *rule, guint delay_ms)
{
  rule->delay_ms = delay_ms;
}

/**
 * mr_fault_rule_set_times:
 * @rule: a rule
 * @times: how many requests the rule acts on at most; 0 for no limit
 */
void
mr_fault_rule_set_times (MrFaultRule *rule, guint times)
{
  rule->times = times;
}

/**
 * mr_fault_rule_set_probability:
 * @rule: a rule
 * @probability: the chance (0 to 1) that the rule acts on a request it matches
 */
void
mr_fault_rule_set_probability (MrFaultRule *rule, double probability)
{
  rule->probability = probability;
}

/**
 * mr_fault_rule_get_id:
 * @rule: a rule
 *
 * Returns: (transfer none) (nullable): the id the runner gave the rule, or %NULL for a
 *   rule that was not added
 */
const char *
mr_fault_rule_get_id (const MrFaultRule *rule)
{
  return rule->id;
}

/**
 * mr_fault_rule_get_action:
 * @rule: a rule
 *
 * Returns: what the rule does
 */
MrFaultAction
mr_fault_rule_get_action (const MrFaultRule *rule)
{
  return rule->action;
}

/**
 * mr_fault_rule_get_method:
 * @rule: a rule
 *
 * Returns: (transfer none) (nullable): the method matched, or %NULL for all
 */
const char *
mr_fault_rule_get_method (const MrFaultRule *rule)
{
  return rule->method;
}

/**
 * mr_fault_rule_get_path:
 * @rule: a rule
 *
 * Returns: (transfer none) (nullable): the path glob or route pattern matched, or %NULL
 */
const char *
mr_fault_rule_get_path (const MrFaultRule *rule)
{
  return rule->path;
}

/**
 * mr_fault_rule_get_sandbox_id:
 * @rule: a rule
 *
 * Returns: (transfer none) (nullable): the sandbox matched, or %NULL for all
 */
const char *
mr_fault_rule_get_sandbox_id (const MrFaultRule *rule)
{
  return rule->sandbox_id;
}

/**
 * mr_fault_rule_get_status:
 * @rule: a rule
 *
 * Returns: the status an error rule answers
 */
guint
mr_fault_rule_get_status (const MrFaultRule *rule)
{
  return rule->status ? rule->status : 500;
}

/**
 * mr_fault_rule_get_code:
 * @rule: a rule
 *
 * Returns: (transfer none) (nullable): the error body's code, if set
 */
const char *
mr_fault_rule_get_code (const MrFaultRule *rule)
{
  return rule->code;
}

/**
 * mr_fault_rule_get_message:
 * @rule: a rule
 *
 * Returns: (transfer none) (nullable): the error body's message, if set
 */
const char *
mr_fault_rule_get_message (const MrFaultRule *rule)
{
  return rule->message;
}

/**
 * mr_fault_rule_get_delay:
 * @rule: a rule
 *
 * Returns: the delay in milliseconds
 */
guint
mr_fault_rule_get_delay (const MrFaultRule *rule)
{
  return rule->delay_ms;
}

/**
 * mr_fault_rule_get_times:
 * @rule: a rule
 *
 * Returns: the most requests the rule acts on, 0 for no limit
 */
guint
mr_fault_rule_get_times (const MrFaultRule *rule)
{
  return rule->times;
}

/**
 * mr_fault_rule_get_probability:
 * @rule: a rule
 *
 * Returns: the chance that the rule acts on a request it matches
 */
double
mr_fault_rule_get_probability (const MrFaultRule *rule)
{
  return rule->probability;
}

/**
 * mr_fault_rule_get_hits:
 * @rule: a rule
 *
 * Returns: how many requests the rule acted on (in a copy: when it was taken)
 */
guint
mr_fault_rule_get_hits (const MrFaultRule *rule)
{
  return rule->hits;
}

static const char *
action_to_string (MrFaultAction action)
{
  switch (action)
    {
    case MR_FAULT_ACTION_DELAY: return "delay";
    case MR_FAULT_ACTION_DROP: return "drop";
    case MR_FAULT_ACTION_ERROR:
    default: return "error";
    }
}

static void
add_string (JsonBuilder *b, const char *name, const char *value)
{
  json_builder_set_member_name (b, name);
  if (value)
    json_builder_add_string_value (b, value);
  else
    json_builder_add_null_value (b);
}

static void
add_int (JsonBuilder *b, const char *name, gint64 value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_int_value (b, value);
}

/**
 * mr_fault_rule_to_json:
 * @rule: a rule
 *
 * Returns: (transfer full): the rule as GET /_mock/faults lists it
 */
JsonNode *
mr_fault_rule_to_json (const MrFaultRule *rule)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  add_string (b, "id", rule->id);
  add_string (b, "action", action_to_string (rule->action));
  add_string (b, "method", rule->method);
  add_string (b, "path", rule->path);
  add_string (b, "sandboxId", rule->sandbox_id);
  if (rule->action == MR_FAULT_ACTION_ERROR)
    {
      add_int (b, "status", mr_fault_rule_get_status (rule));
      add_string (b, "code", rule->code);
      add_string (b, "message", rule->message);
    }
  add_int (b, "delayMs", rule->delay_ms);
  add_int (b, "times", rule->times);
  json_builder_set_member_name (b, "probability");
  json_builder_add_double_value (b, rule->probability);
  add_int (b, "hits", rule->hits);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/* From JSON ------------------------------------------------------------------------- */

static gboolean
invalid (GError **error, const char *format, ...) G_GNUC_PRINTF (2, 3);

static gboolean
invalid (GError **error, const char *format, ...)
{
  va_list args;
  g_autofree char *message = NULL;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, MR_ERROR, MR_ERROR_INVALID_ARGUMENT, "fault rule: %s", message);
  return FALSE;
}

static gboolean
get_string (JsonObject *o, const char *name, const char **out, GError **error)
{
  JsonNode *node = json_object_get_member (o, name);

  *out = NULL;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return invalid (error, "%s must be a string", name);
  *out = json_node_get_string (node);
  return TRUE;
}

static gboolean
get_uint (JsonObject *o, const char *name, guint *out, GError **error)
{
  JsonNode *node = json_object_get_member (o, name);
  gint64 n;

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    return invalid (error, "%s must be an integer", name);
  n = json_node_get_int (node);
  if (n < 0 || n > G_MAXUINT32)
    return invalid (error, "%s is out of range", name);
  *out = (guint) n;
  return TRUE;
}

/**
 * mr_fault_rule_new_from_json_node:
 * @node: a JSON object
 * @error: return location for a #GError
 *
 * Reads a rule in the form POST /_mock/faults accepts (see docs/mock-api.md). Unknown
 * members are refused, so that a misspelt field cannot widen a rule.
 *
 * Returns: (transfer full) (nullable): the rule, or %NULL with @error set
 */
MrFaultRule *
mr_fault_rule_new_from_json_node (JsonNode *node, GError **error)
{
  static const char *const known[] = {
    "action", "method", "path", "sandboxId", "status", "code", "message", "delayMs", "times", "probability",
    "id", "hits", NULL
  };
  g_autoptr(MrFaultRule) rule = mr_fault_rule_new (MR_FAULT_ACTION_ERROR);
  g_autoptr(GList) members = NULL;
  const char *action = NULL, *method = NULL, *path = NULL, *sandbox_id = NULL, *code = NULL, *message = NULL;
  JsonObject *o;
  JsonNode *probability;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      invalid (error, "expected a JSON object");
      return NULL;
    }
  o = json_node_get_object (node);
  members = json_object_get_members (o);
  for (GList *l = members; l; l = l->next)
    if (!g_strv_contains (known, l->data))
      {
        invalid (error, "unknown field '%s'", (char *) l->data);
        return NULL;
      }
  if (!get_string (o, "action", &action, error) || !get_string (o, "method", &method, error) ||
      !get_string (o, "path", &path, error) || !get_string (o, "sandboxId", &sandbox_id, error) ||
      !get_string (o, "code", &code, error) || !get_string (o, "message", &message, error) ||
      !get_uint (o, "status", &rule->status, error) || !get_uint (o, "delayMs", &rule->delay_ms, error) ||
      !get_uint (o, "times", &rule->times, error))
    return NULL;

  if (action == NULL)
    /* a rule that only says how long is a latency rule */
    rule->action = (rule->delay_ms > 0 && rule->status == 0) ? MR_FAULT_ACTION_DELAY : MR_FAULT_ACTION_ERROR;
  else if (strcmp (action, "error") == 0)
    rule->action = MR_FAULT_ACTION_ERROR;
  else if (strcmp (action, "delay") == 0)
    rule->action = MR_FAULT_ACTION_DELAY;
  else if (strcmp (action, "drop") == 0)
    rule->action = MR_FAULT_ACTION_DROP;
  else
    {
      invalid (error, "action must be \"error\", \"delay\" or \"drop\", not \"%s\"", action);
      return NULL;
    }

  probability = json_object_get_member (o, "probability");
  if (probability && !JSON_NODE_HOLDS_NULL (probability))
    {
      GType type = JSON_NODE_HOLDS_VALUE (probability) ? json_node_get_value_type (probability) : G_TYPE_INVALID;
      if (type != G_TYPE_DOUBLE && type != G_TYPE_INT64)
        {
          invalid (error, "probability must be a number");
          return NULL;
        }
      rule->probability = json_node_get_double (probability);
    }
  mr_fault_rule_set_method (rule, method);
  mr_fault_rule_set_path (rule, path);
  mr_fault_rule_set_sandbox_id (rule, sandbox_id);
  mr_fault_rule_set_code (rule, code);
  mr_fault_rule_set_message (rule, message);
  return g_steal_pointer (&rule);
}

/**
 * mr_fault_rule_new_from_json:
 * @json: a JSON object, as text
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): the rule, or %NULL with @error set
 */
MrFaultRule *
mr_fault_rule_new_from_json (const char *json, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) local = NULL;

  if (!json_parser_load_from_data (parser, json, -1, &local))
    {
      invalid (error, "%s", local->message);
      return NULL;
    }
  return mr_fault_rule_new_from_json_node (json_parser_get_root (parser), error);
}

static gboolean
validate (const MrFaultRule *rule, GError **error)
{
  if (rule->action == MR_FAULT_ACTION_ERROR && rule->status != 0 && (rule->status < 400 || rule->status > 599))
    return invalid (error, "status must be between 400 and 599, not %u", rule->status);
  if (rule->action == MR_FAULT_ACTION_DELAY && rule->delay_ms == 0)
    return invalid (error, "a delay rule needs delayMs > 0");
  if (!(rule->probability >= 0.0 && rule->probability <= 1.0))
    return invalid (error, "probability must be between 0 and 1");
  if (rule->delay_ms > 10 * 60 * 1000)
    return invalid (error, "delayMs must be at most 600000 (10 minutes)");
  return TRUE;
}

/* The rule set ---------------------------------------------------------------------- */

typedef struct _Pending Pending;

struct _MrFaults {
  GPtrArray *rules;          /* MrFaultRule, in the order added */
  guint next_id;
  GList *pending;            /* Pending: requests a rule is holding */
};

struct _Pending {
  MrFaults *faults;
  SoupServerMessage *msg;
  MrExchangeFunc proceed;
  MrFaultRule *rule;         /* a copy: the rule may be removed meanwhile */
  GSource *source;
};

MrFaults *
mr_faults_new (void)
{
  MrFaults *faults = g_new0 (MrFaults, 1);

  faults->rules = g_ptr_array_new_with_free_func ((GDestroyNotify) mr_fault_rule_free);
  faults->next_id = 1;
  return faults;
}

static void
pending_free (Pending *p)
{
  mr_source_clear (&p->source);
  g_object_unref (p->msg);
  mr_fault_rule_free (p->rule);
  g_free (p);
}

/* At shutdown: the held requests are dropped with their connections. */
void
mr_faults_cancel_pending (MrFaults *faults)
{
  g_list_free_full (g_steal_pointer (&faults->pending), (GDestroyNotify) pending_free);
}

void
mr_faults_free (MrFaults *faults)
{
  mr_faults_cancel_pending (faults);
  g_ptr_array_unref (faults->rules);
  g_free (faults);
}

char *
mr_faults_add (MrFaults *faults, const MrFaultRule *rule, GError **error)
{
  MrFaultRule *copy;

  if (!validate (rule, error))
    return NULL;
  copy = mr_fault_rule_copy (rule);
  g_free (copy->id);
  copy->id = g_strdup_printf ("fault-%u", faults->next_id++);
  copy->hits = 0;
  g_ptr_array_add (faults->rules, copy);
  return g_strdup (copy->id);
}

gboolean
mr_faults_remove (MrFaults *faults, const char *id)
{
  for (guint i = 0; i < faults->rules->len; i++)
    if (g_strcmp0 (((MrFaultRule *) faults->rules->pdata[i])->id, id) == 0)
      {
        g_ptr_array_remove_index (faults->rules, i);
        return TRUE;
      }
  return FALSE;
}

void
mr_faults_clear (MrFaults *faults)
{
  g_ptr_array_set_size (faults->rules, 0);
}

GPtrArray *
mr_faults_list (MrFaults *faults)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) mr_fault_rule_free);

  for (guint i = 0; i < faults->rules->len; i++)
    g_ptr_array_add (out, mr_fault_rule_copy (faults->rules->pdata[i]));
  return out;
}

/* Acting on a request ---------------------------------------------------------------- */

static gboolean
rule_matches (const MrFaultRule *rule, MrExchange *ex)
{
  SoupServerMessage *msg = ex->msg;

  if (rule->method && g_ascii_strcasecmp (rule->method, soup_server_message_get_method (msg)) != 0)
    return FALSE;
  if (rule->sandbox_id && g_strcmp0 (rule->sandbox_id, ex->sandbox_id) != 0)
    return FALSE;
  return mr_journal_path_matches (rule->path, g_uri_get_path (soup_server_message_get_uri (msg)),
                                  ex->route ? ex->route->pattern : NULL);
}

/* The reason phrase of an error status. libsoup 3 names only the statuses of RFC 2616
 * and WebDAV: the later ones a test injects most (429 above all) would read "Unknown Error". */
static const char *
status_phrase (guint status)
{
  static const struct { guint status; const char *phrase; } later[] = {
    { 418, "I'm a teapot" }, { 421, "Misdirected Request" }, { 425, "Too Early" },
    { 426, "Upgrade Required" }, { 428, "Precondition Required" }, { 429, "Too Many Requests" },
    { 431, "Request Header Fields Too Large" }, { 451, "Unavailable For Legal Reasons" },
    { 506, "Variant Also Negotiates" }, { 508, "Loop Detected" }, { 510, "Not Extended" },
    { 511, "Network Authentication Required" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (later); i++)
    if (later[i].status == status)
      return later[i].phrase;
  return soup_status_get_phrase (status) ? soup_status_get_phrase (status) : "Error";
}

/* "Service Unavailable" -> "SERVICE_UNAVAILABLE", the shape of the error body's codes */
static char *
code_for_status (guint status)
{
  char *code = g_ascii_strup (status_phrase (status), -1);

  g_strdelimit (code, " -'", '_');
  return code;
}

static void
reply_error (SoupServerMessage *msg, const MrFaultRule *rule)
{
  guint status = mr_fault_rule_get_status (rule);
  g_autofree char *code = rule->code ? g_strdup (rule->code) : code_for_status (status);
  g_autofree char *phrase = g_ascii_strdown (status_phrase (status), -1);
  g_autofree char *message = rule->message ? g_strdup (rule->message)
                             : g_strdup_printf ("%s: injected by mock-runner (%s)", phrase, rule->id);

  soup_message_body_set_accumulate (soup_server_message_get_request_body (msg), FALSE);
  mr_http_reply_error (msg, status, code, message);
  soup_server_message_set_status (msg, status, status_phrase (status));
}

static void
drop_connection (SoupServerMessage *msg)
{
  GIOStream *stream;

  /* recorded now: a stolen connection never reports "finished" */
  mr_journal_complete (mr_exchange_get (msg));
  stream = soup_server_message_steal_connection (msg);
  if (stream)
    {
      g_io_stream_close (stream, NULL, NULL);
      g_object_unref (stream);
    }
}

static gboolean
pending_fire (gpointer data)
{
  Pending *p = data;
  MrFaults *faults = p->faults;
  SoupServerMessage *msg = p->msg;

  faults->pending = g_list_remove (faults->pending, p);
  switch (p->rule->action)
    {
    case MR_FAULT_ACTION_DELAY:
      {
        MrExchange *ex = mr_exchange_get (msg);
        /* unpause first: the route may pause the message again, which cancels this */
        soup_server_message_unpause (msg);
        if (ex && p->proceed)
          p->proceed (ex);
      }
      break;
    case MR_FAULT_ACTION_ERROR:
      reply_error (msg, p->rule);
      soup_server_message_unpause (msg);
      break;
    case MR_FAULT_ACTION_DROP:
      drop_connection (msg);
      break;
    }
  pending_free (p);
  return G_SOURCE_REMOVE;
}

static void
hold (MrFaults *faults, MrExchange *ex, const MrFaultRule *rule, MrExchangeFunc proceed)
{
  Pending *p = g_new0 (Pending, 1);

  p->faults = faults;
  p->msg = g_object_ref (ex->msg);
  p->proceed = proceed;
  p->rule = mr_fault_rule_copy (rule);
  soup_server_message_pause (ex->msg);
  /* the source's callback does not own @p: pending_free destroys the source */
  p->source = rule->delay_ms ? mr_timeout_add (rule->delay_ms, pending_fire, p) : mr_idle_add (pending_fire, p);
  faults->pending = g_list_prepend (faults->pending, p);
}

/* The early handler's hook. Returns TRUE if a rule took the request over: it then
 * calls @proceed itself when the request may continue (after a delay), or never. */
gboolean
mr_faults_intercept (MrFaults *faults, MrExchange *ex, MrExchangeFunc proceed)
{
  MrFaultRule *rule = NULL;

  for (guint i = 0; i < faults->rules->len && rule == NULL; i++)
    {
      MrFaultRule *candidate = faults->rules->pdata[i];
      if (candidate->times && candidate->hits >= candidate->times)
        continue;
      if (!rule_matches (candidate, ex))
        continue;
      /* drawn only for a rule that matches, so unrelated traffic does not shift the
       * seeded sequence */
      if (candidate->probability < 1.0 && mr_runner_random_double (ex->runner) >= candidate->probability)
        continue;
      rule = candidate;
    }
  if (rule == NULL)
    return FALSE;

  rule->hits++;
  mr_journal_note_fault (ex, rule->id);
  if (rule->action == MR_FAULT_ACTION_ERROR && rule->delay_ms == 0)
    {
      reply_error (ex->msg, rule);
      return TRUE;
    }
  hold (faults, ex, rule, proceed);
  return TRUE;
}

/* The runner's fault methods ------------------------------------------------------------ */

typedef struct {
  const MrFaultRule *rule;
  const char *id;
  char *new_id;
  GPtrArray *list;
  gboolean removed;
  GError *error;
} FaultCall;

static void
add_in_server (MrRunner *runner, gpointer data)
{
  FaultCall *c = data;

  c->new_id = mr_faults_add (mr_runner_get_fault_set (runner), c->rule, &c->error);
}

/**
 * mr_runner_add_fault:
 * @self: a runner
 * @rule: the rule (copied)
 * @error: return location for a #GError
 *
 * Adds a rule after the existing ones (the first rule that matches a request acts).
 *
 * Returns: (transfer full) (nullable): the new rule's id ("fault-N"), or %NULL if the
 *   rule is invalid
 */
char *
mr_runner_add_fault (MrRunner *self, const MrFaultRule *rule, GError **error)
{
  FaultCall c = { .rule = rule };

  g_return_val_if_fail (MR_IS_RUNNER (self), NULL);
  g_return_val_if_fail (rule != NULL, NULL);

  if (!mr_runner_run_on_server (self, add_in_server, &c))
    {
      g_set_error (error, MR_ERROR, MR_ERROR_TIMEOUT, "the server thread did not answer");
      return NULL;
    }
  if (c.error)
    g_propagate_error (error, c.error);
  return c.new_id;
}

static void
remove_in_server (MrRunner *runner, gpointer data)
{
  FaultCall *c = data;

  c->removed = mr_faults_remove (mr_runner_get_fault_set (runner), c->id);
}

/**
 * mr_runner_remove_fault:
 * @self: a runner
 * @id: a rule id
 *
 * Returns: %TRUE if the rule existed
 */
gboolean
mr_runner_remove_fault (MrRunner *self, const char *id)
{
  FaultCall c = { .id = id };

  g_return_val_if_fail (MR_IS_RUNNER (self), FALSE);
  mr_runner_run_on_server (self, remove_in_server, &c);
  return c.removed;
}

static void
clear_in_server (MrRunner *runner, gpointer data)
{
  mr_faults_clear (mr_runner_get_fault_set (runner));
}

/**
 * mr_runner_clear_faults:
 * @self: a runner
 *
 * Removes every rule. Requests a rule is already holding (delaying) are not affected.
 */
void
mr_runner_clear_faults (MrRunner *self)
{
  g_return_if_fail (MR_IS_RUNNER (self));
  mr_runner_run_on_server (self, clear_in_server, NULL);
}

static void
list_in_server (MrRunner *runner, gpointer data)
{
  FaultCall *c = data;

  c->list = mr_faults_list (mr_runner_get_fault_set (runner));
}

/**
 * mr_runner_get_faults:
 * @self: a runner
 *
 * Returns: (transfer container) (element-type MrFaultRule): copies of the rules, in order,
 *   with their hit counts
 */
GPtrArray *
mr_runner_get_faults (MrRunner *self)
{
  FaultCall c = { 0 };

  g_return_val_if_fail (MR_IS_RUNNER (self), NULL);
  if (!mr_runner_run_on_server (self, list_in_server, &c))
    return g_ptr_array_new_with_free_func ((GDestroyNotify) mr_fault_rule_free);
  return c.list;
}
