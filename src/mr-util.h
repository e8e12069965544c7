/* mr-util.h: main-loop helpers that attach to the thread-default context, or to a given
 * one.
 *
 * g_timeout_add() and g_idle_add() attach to the global default context, which is not
 * the runner's: everything in the server thread must use these instead. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

GSource *mr_timeout_add (guint interval_ms, GSourceFunc func, gpointer data);
GSource *mr_timeout_add_full (guint interval_ms, GSourceFunc func, gpointer data, GDestroyNotify destroy);
GSource *mr_idle_add (GSourceFunc func, gpointer data);
void     mr_source_clear (GSource **source);
void     mr_idle_run_on (GMainContext *context, GSourceFunc func, gpointer data, GDestroyNotify destroy);

G_END_DECLS
