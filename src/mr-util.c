/* mr-util.c: main-loop helpers bound to the thread-default context, or to a given one. */
#include "mr-util.h"

/**
 * mr_timeout_add_full: (skip)
 * @interval_ms: the interval
 * @func: the callback
 * @data: its data
 * @destroy: (nullable): frees @data
 *
 * Returns: (transfer full): the attached source; release it with mr_source_clear()
 */
GSource *
mr_timeout_add_full (guint interval_ms, GSourceFunc func, gpointer data, GDestroyNotify destroy)
{
  GSource *source = g_timeout_source_new (interval_ms);

  g_source_set_callback (source, func, data, destroy);
  g_source_attach (source, g_main_context_get_thread_default ());
  return source;
}

/**
 * mr_timeout_add: (skip)
 * @interval_ms: the interval
 * @func: the callback
 * @data: its data
 *
 * Returns: (transfer full): the attached source; release it with mr_source_clear()
 */
GSource *
mr_timeout_add (guint interval_ms, GSourceFunc func, gpointer data)
{
  return mr_timeout_add_full (interval_ms, func, data, NULL);
}

/**
 * mr_idle_add: (skip)
 * @func: the callback
 * @data: its data
 *
 * Returns: (transfer full): the attached source; release it with mr_source_clear()
 */
GSource *
mr_idle_add (GSourceFunc func, gpointer data)
{
  GSource *source = g_idle_source_new ();

  g_source_set_callback (source, func, data, NULL);
  g_source_attach (source, g_main_context_get_thread_default ());
  return source;
}

/**
 * mr_idle_run_on: (skip)
 * @context: the context whose thread runs @func
 * @func: the callback
 * @data: its data
 * @destroy: (nullable): frees @data, after @func
 *
 * Runs @func once on @context's thread, from another thread. (g_main_context_invoke()
 * would run it in the calling thread whenever the context happens to be free.)
 */
void
mr_idle_run_on (GMainContext *context, GSourceFunc func, gpointer data, GDestroyNotify destroy)
{
  GSource *source = g_idle_source_new ();

  g_source_set_callback (source, func, data, destroy);
  g_source_attach (source, context);
  g_source_unref (source);
}

/**
 * mr_source_clear: (skip)
 * @source: a source pointer, set to %NULL
 *
 * Destroys and releases the source, if any. Safe to call from the source's own callback.
 */
void
mr_source_clear (GSource **source)
{
  if (*source == NULL)
    return;
  g_source_destroy (*source);
  g_source_unref (*source);
  *source = NULL;
}
