/* mr-timing.c: when lifecycle transitions complete.
 *
 * Every transition a sandbox backend hands to mr_runner_run_transition() comes here.
 * Immediate ones run at once, as before; the others wait in one queue, in the order
 * they were scheduled, each with a timer (delay) or none (manual). The backend's
 * completion functions look the sandbox up again, so a transition whose sandbox was
 * destroyed or moved on meanwhile does nothing.
 *
 * Changing the timing of a scope (a sandbox, or every sandbox without its own) applies
 * to the transitions already waiting in it: immediate runs them, delay re-arms their
 * timers, manual holds them. All of this runs on the server thread. */
#include <string.h>

#include "mr-runner-private.h"
#include "mr-error.h"

#define MAX_DELAY_MS (10 * 60 * 1000)

typedef struct {
  MrTimingMode mode;
  guint delay_ms;
} Setting;

typedef struct {
  MrTiming *timing;
  MrRunner *runner;
  char *sandbox_id;
  MrSandboxState target;
  MrTransitionFunc func;
  gpointer data;
  GDestroyNotify destroy;
  GSource *source;          /* delay mode: the timer */
} Transition;

struct _MrTiming {
  Setting baseline;         /* what reset returns to */
  Setting global;
  GHashTable *overrides;    /* sandbox id -> Setting */
  GQueue pending;           /* Transition, oldest first */
};

/**
 * mr_timing_mode_to_string:
 * @mode: a mode
 *
 * Returns: (transfer none): "immediate", "delay" or "manual"
 */
const char *
mr_timing_mode_to_string (MrTimingMode mode)
{
  switch (mode)
    {
    case MR_TIMING_MODE_DELAY: return "delay";
    case MR_TIMING_MODE_MANUAL: return "manual";
    case MR_TIMING_MODE_IMMEDIATE:
    default: return "immediate";
    }
}

/**
 * mr_timing_mode_from_string:
 * @string: "immediate", "delay" or "manual"
 * @mode: (out): the mode
 *
 * Returns: whether @string names a mode
 */
gboolean
mr_timing_mode_from_string (const char *string, MrTimingMode *mode)
{
  static const MrTimingMode modes[] = { MR_TIMING_MODE_IMMEDIATE, MR_TIMING_MODE_DELAY, MR_TIMING_MODE_MANUAL };

  for (guint i = 0; string && i < G_N_ELEMENTS (modes); i++)
    if (g_ascii_strcasecmp (string, mr_timing_mode_to_string (modes[i])) == 0)
      {
        *mode = modes[i];
        return TRUE;
      }
  return FALSE;
}

/* "immediate", "manual", "delay:250" (MOCK_RUNNER_TIMING) */
gboolean
mr_timing_parse (const char *text, MrTimingMode *mode, guint *delay_ms, GError **error)
{
  const char *colon = strchr (text, ':');
  g_autofree char *name = colon ? g_strndup (text, colon - text) : g_strdup (text);
  guint64 n = 0;

  if (!mr_timing_mode_from_string (g_strstrip (name), mode) ||
      (colon && *mode != MR_TIMING_MODE_DELAY) ||
      (*mode == MR_TIMING_MODE_DELAY &&
       (!colon || !g_ascii_string_to_unsigned (colon + 1, 10, 1, MAX_DELAY_MS, &n, NULL))))
    {
      g_set_error (error, MR_ERROR, MR_ERROR_CONFIG,
                   "invalid value for MOCK_RUNNER_TIMING: '%s' (expected immediate, manual or delay:<ms>, "
                   "with 1 to %d ms)", text, MAX_DELAY_MS);
      return FALSE;
    }
  *delay_ms = (guint) n;
  return TRUE;
}

MrTiming *
mr_timing_new (void)
{
  MrTiming *timing = g_new0 (MrTiming, 1);

  timing->overrides = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_queue_init (&timing->pending);
  return timing;
}

static void
transition_free (Transition *t)
{
  mr_source_clear (&t->source);
  if (t->destroy)
    t->destroy (t->data);
  g_free (t->sandbox_id);
  g_free (t);
}

/* Drops every waiting transition without running it (reset, import, shutdown). */
void
mr_timing_cancel_all (MrTiming *timing)
{
  Transition *t;

  while ((t = g_queue_pop_head (&timing->pending)))
    transition_free (t);
}

void
mr_timing_free (MrTiming *timing)
{
  mr_timing_cancel_all (timing);
  g_hash_table_unref (timing->overrides);
  g_free (timing);
}

/* A delay of 0 is no delay (a setting keeps it as given: "timing-mode" and
 * "timing-delay" are set one after the other) */
static gboolean
is_immediate (const Setting *s)
{
  return s->mode == MR_TIMING_MODE_IMMEDIATE || (s->mode == MR_TIMING_MODE_DELAY && s->delay_ms == 0);
}

static const Setting *
setting_for (MrTiming *timing, const char *sandbox_id)
{
  const Setting *s = sandbox_id ? g_hash_table_lookup (timing->overrides, sandbox_id) : NULL;

  return s ? s : &timing->global;
}

/* Is @t governed by the setting of @sandbox_id (NULL: the global one)? */
static gboolean
in_scope (MrTiming *timing, Transition *t, const char *sandbox_id)
{
  if (sandbox_id)
    return strcmp (t->sandbox_id, sandbox_id) == 0;
  return !g_hash_table_contains (timing->overrides, t->sandbox_id);
}

static void
run (MrTiming *timing, Transition *t)
{
  g_queue_remove (&timing->pending, t);
  mr_source_clear (&t->source);
  t->func (t->runner, t->sandbox_id, t->data);
  transition_free (t);
}

static gboolean
on_timer (gpointer data)
{
  Transition *t = data;

  run (t->timing, t);
  return G_SOURCE_REMOVE;
}

static void
arm (Transition *t, guint delay_ms)
{
  GMainContext *context = mr_runner_get_main_context (t->runner);

  mr_source_clear (&t->source);
  t->source = g_timeout_source_new (delay_ms);
  /* the callback does not own @t: transition_free destroys the source */
  g_source_set_callback (t->source, on_timer, t, NULL);
  g_source_attach (t->source, context ? context : g_main_context_get_thread_default ());
}

void
mr_timing_schedule (MrTiming *timing, MrRunner *runner, const char *sandbox_id, MrSandboxState target,
                    MrTransitionFunc func, gpointer data, GDestroyNotify destroy)
{
  const Setting *s = setting_for (timing, sandbox_id);
  Transition *t;

  if (is_immediate (s))
    {
      func (runner, sandbox_id, data);
      if (destroy)
        destroy (data);
      return;
    }
  t = g_new0 (Transition, 1);
  t->timing = timing;
  t->runner = runner;
  t->sandbox_id = g_strdup (sandbox_id ? sandbox_id : "");
  t->target = target;
  t->func = func;
  t->data = data;
  t->destroy = destroy;
  g_queue_push_tail (&timing->pending, t);
  if (s->mode == MR_TIMING_MODE_DELAY)
    arm (t, s->delay_ms);
}

static Transition *
first_in_scope (MrTiming *timing, const char *sandbox_id)
{
  for (GList *l = timing->pending.head; l; l = l->next)
    if (in_scope (timing, l->data, sandbox_id))
      return l->data;
  return NULL;
}

/* Applies the setting of a scope to what already waits in it. */
static void
apply_to_pending (MrTiming *timing, const char *sandbox_id)
{
  const Setting *s = setting_for (timing, sandbox_id);
  Transition *t;

  if (is_immediate (s))
    {
      /* running one may queue the next, which is immediate now and runs inline */
      while ((t = first_in_scope (timing, sandbox_id)))
        run (timing, t);
      return;
    }
  for (GList *l = timing->pending.head; l; l = l->next)
    if (in_scope (timing, l->data, sandbox_id))
      {
        if (s->mode == MR_TIMING_MODE_DELAY)
          arm (l->data, s->delay_ms);
        else
          mr_source_clear (&((Transition *) l->data)->source);
      }
}

void
mr_timing_set (MrTiming *timing, const char *sandbox_id, MrTimingMode mode, guint delay_ms)
{
  Setting *s = g_new0 (Setting, 1);

  s->mode = mode;
  s->delay_ms = MIN (delay_ms, MAX_DELAY_MS);
  if (sandbox_id)
    g_hash_table_replace (timing->overrides, g_strdup (sandbox_id), s);
  else
    {
      timing->global = *s;
      g_free (s);
    }
  apply_to_pending (timing, sandbox_id);
}

void
mr_timing_unset (MrTiming *timing, const char *sandbox_id)
{
  g_autofree char *id = g_strdup (sandbox_id);

  if (!g_hash_table_remove (timing->overrides, sandbox_id))
    return;
  /* its transitions follow the global timing from now on */
  for (GList *l = timing->pending.head; l; l = l->next)
    if (strcmp (((Transition *) l->data)->sandbox_id, id) == 0)
      {
        Transition *t = l->data;
        if (timing->global.mode == MR_TIMING_MODE_DELAY)
          arm (t, timing->global.delay_ms);
        else
          mr_source_clear (&t->source);
      }
  if (is_immediate (&timing->global))
    {
      Transition *t;
      while ((t = first_in_scope (timing, id)))
        run (timing, t);
    }
}

void
mr_timing_set_baseline (MrTiming *timing, MrTimingMode mode, guint delay_ms)
{
  timing->baseline.mode = mode;
  timing->baseline.delay_ms = delay_ms;
  mr_timing_set (timing, NULL, mode, delay_ms);
  timing->baseline = timing->global;
}

/* Back to the configured timing, with nothing waiting. */
void
mr_timing_reset (MrTiming *timing)
{
  mr_timing_cancel_all (timing);
  g_hash_table_remove_all (timing->overrides);
  timing->global = timing->baseline;
}

MrTimingMode
mr_timing_get (MrTiming *timing, const char *sandbox_id, guint *delay_ms)
{
  const Setting *s = setting_for (timing, sandbox_id);

  if (delay_ms)
    *delay_ms = s->delay_ms;
  return s->mode;
}

/* Runs the oldest waiting transition of @sandbox_id, or with NULL the oldest of every
 * sandbox (one step each). Returns how many ran. */
guint
mr_timing_advance (MrTiming *timing, const char *sandbox_id)
{
  g_autoptr(GPtrArray) steps = g_ptr_array_new ();
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  guint ran = 0;

  for (GList *l = timing->pending.head; l; l = l->next)
    {
      Transition *t = l->data;
      if (sandbox_id ? strcmp (t->sandbox_id, sandbox_id) != 0 : g_hash_table_contains (seen, t->sandbox_id))
        continue;
      g_hash_table_add (seen, t->sandbox_id);
      g_ptr_array_add (steps, t);
      if (sandbox_id)
        break;
    }
  for (guint i = 0; i < steps->len; i++)
    {
      /* still waiting? (a completion function cannot cancel others, but be sure) */
      if (g_queue_find (&timing->pending, steps->pdata[i]) == NULL)
        continue;
      run (timing, steps->pdata[i]);
      ran++;
    }
  return ran;
}

guint
mr_timing_count_pending (MrTiming *timing, const char *sandbox_id)
{
  guint n = 0;

  for (GList *l = timing->pending.head; l; l = l->next)
    if (sandbox_id == NULL || strcmp (((Transition *) l->data)->sandbox_id, sandbox_id) == 0)
      n++;
  return n;
}

static void
add_setting (JsonBuilder *b, const Setting *s)
{
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "mode");
  json_builder_add_string_value (b, mr_timing_mode_to_string (s->mode));
  json_builder_set_member_name (b, "delayMs");
  json_builder_add_int_value (b, s->delay_ms);
  json_builder_end_object (b);
}

/* {"mode", "delayMs", "sandboxes": {id: {mode, delayMs}}, "pending": [{sandboxId, target}]} */
JsonNode *
mr_timing_to_json (MrTiming *timing)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(GList) ids = g_list_sort (g_hash_table_get_keys (timing->overrides), (GCompareFunc) strcmp);

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "mode");
  json_builder_add_string_value (b, mr_timing_mode_to_string (timing->global.mode));
  json_builder_set_member_name (b, "delayMs");
  json_builder_add_int_value (b, timing->global.delay_ms);
  json_builder_set_member_name (b, "sandboxes");
  json_builder_begin_object (b);
  for (GList *l = ids; l; l = l->next)
    {
      json_builder_set_member_name (b, l->data);
      add_setting (b, g_hash_table_lookup (timing->overrides, l->data));
    }
  json_builder_end_object (b);
  json_builder_set_member_name (b, "pending");
  json_builder_begin_array (b);
  for (GList *l = timing->pending.head; l; l = l->next)
    {
      Transition *t = l->data;
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "sandboxId");
      json_builder_add_string_value (b, t->sandbox_id);
      json_builder_set_member_name (b, "target");
      json_builder_add_string_value (b, mr_sandbox_state_to_string (t->target));
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/* The runner's timing methods ---------------------------------------------------------- */

typedef struct {
  const char *sandbox_id;
  MrTimingMode mode;
  guint delay_ms;
  guint count;
} TimingCall;

static void
set_in_server (MrRunner *runner, gpointer data)
{
  TimingCall *c = data;

  mr_timing_set (mr_runner_get_timing_state (runner), c->sandbox_id, c->mode, c->delay_ms);
}

/**
 * mr_runner_set_timing:
 * @self: a runner
 * @sandbox_id: (nullable): a sandbox (it need not exist yet), or %NULL for every sandbox
 *   without a timing of its own
 * @mode: the mode
 * @delay_ms: for %MR_TIMING_MODE_DELAY, how long each transition takes (at most 10
 *   minutes; 0 means immediate)
 *
 * Sets when lifecycle transitions complete. Transitions already waiting in that scope
 * follow the new timing: immediate completes them, delay restarts their timers,
 * manual holds them. reset() returns to the configured #MrRunner:timing-mode.
 */
void
mr_runner_set_timing (MrRunner *self, const char *sandbox_id, MrTimingMode mode, guint delay_ms)
{
  TimingCall c = { sandbox_id, mode, delay_ms, 0 };

  g_return_if_fail (MR_IS_RUNNER (self));
  mr_runner_run_on_server (self, set_in_server, &c);
}

static void
unset_in_server (MrRunner *runner, gpointer data)
{
  TimingCall *c = data;

  mr_timing_unset (mr_runner_get_timing_state (runner), c->sandbox_id);
}

/**
 * mr_runner_unset_timing:
 * @self: a runner
 * @sandbox_id: a sandbox
 *
 * Removes the sandbox's own timing: it follows the global one again.
 */
void
mr_runner_unset_timing (MrRunner *self, const char *sandbox_id)
{
  TimingCall c = { sandbox_id, 0, 0, 0 };

  g_return_if_fail (MR_IS_RUNNER (self));
  g_return_if_fail (sandbox_id != NULL);
  mr_runner_run_on_server (self, unset_in_server, &c);
}

static void
get_in_server (MrRunner *runner, gpointer data)
{
  TimingCall *c = data;

  c->mode = mr_timing_get (mr_runner_get_timing_state (runner), c->sandbox_id, &c->delay_ms);
}

/**
 * mr_runner_get_timing:
 * @self: a runner
 * @sandbox_id: (nullable): a sandbox, or %NULL for the global timing
 * @delay_ms: (out) (optional): the delay of %MR_TIMING_MODE_DELAY
 *
 * Returns: the timing that applies to @sandbox_id (its own, or the global one)
 */
MrTimingMode
mr_runner_get_timing (MrRunner *self, const char *sandbox_id, guint *delay_ms)
{
  TimingCall c = { sandbox_id, 0, 0, 0 };

  g_return_val_if_fail (MR_IS_RUNNER (self), MR_TIMING_MODE_IMMEDIATE);
  mr_runner_run_on_server (self, get_in_server, &c);
  if (delay_ms)
    *delay_ms = c.delay_ms;
  return c.mode;
}

static void
advance_in_server (MrRunner *runner, gpointer data)
{
  TimingCall *c = data;

  c->count = mr_timing_advance (mr_runner_get_timing_state (runner), c->sandbox_id);
}

/**
 * mr_runner_advance:
 * @self: a runner
 * @sandbox_id: (nullable): a sandbox, or %NULL for every sandbox
 *
 * Completes the oldest waiting transition of @sandbox_id now (manual or delay mode),
 * or with %NULL the oldest of every sandbox: one step each, so creating -> starting
 * -> started takes two calls. State-change signals are emitted before this returns.
 *
 * Returns: how many transitions completed
 */
guint
mr_runner_advance (MrRunner *self, const char *sandbox_id)
{
  TimingCall c = { sandbox_id, 0, 0, 0 };

  g_return_val_if_fail (MR_IS_RUNNER (self), 0);
  mr_runner_run_on_server (self, advance_in_server, &c);
  return c.count;
}

static void
count_in_server (MrRunner *runner, gpointer data)
{
  TimingCall *c = data;

  c->count = mr_timing_count_pending (mr_runner_get_timing_state (runner), c->sandbox_id);
}

/**
 * mr_runner_count_pending_transitions:
 * @self: a runner
 * @sandbox_id: (nullable): a sandbox, or %NULL for every sandbox
 *
 * Returns: how many transitions wait (manual or delay mode)
 */
guint
mr_runner_count_pending_transitions (MrRunner *self, const char *sandbox_id)
{
  TimingCall c = { sandbox_id, 0, 0, 0 };

  g_return_val_if_fail (MR_IS_RUNNER (self), 0);
  mr_runner_run_on_server (self, count_in_server, &c);
  return c.count;
}
