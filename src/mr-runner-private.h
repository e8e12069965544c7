/* mr-runner-private.h: what the route handlers in api/ see of the runner. Not installed. */
#pragma once

#include <libsoup/soup.h>

#include "mr-runner.h"
#include "mr-router.h"
#include "mr-metrics.h"
#include "mr-hostinfo.h"
#include "mr-util.h"
#include "mr-journal.h"
#include "mr-faults.h"
#include "mr-timing.h"
#include "mr-clock.h"
#include "ssh/mr-ssh-access.h"

G_BEGIN_DECLS

/* Route flags */
enum {
  MR_ROUTE_PUBLIC  = 1 << 0,   /* no token needed */
  MR_ROUTE_METRICS = 1 << 1,   /* public unless METRICS_AUTH=true */
  MR_ROUTE_STREAM  = 1 << 2,   /* the handler consumes the body itself: no size limit */
  MR_ROUTE_CONTROL = 1 << 3,   /* a /_mock/ test control: never journaled nor faulted */
  MR_ROUTE_OWN_AUTH = 1 << 4,  /* the route checks credentials itself (control-plane facade) */
};

typedef struct _MrJournalTracker MrJournalTracker;

/* One request's state from its headers to its reply. */
typedef struct {
  MrRunner *runner;
  SoupServerMessage *msg;
  const MrRoute *route;
  MrRouteParams *params;     /* path parameters, decoded */
  GHashTable *query;         /* decoded query, may be NULL */
  GBytes *body;              /* the request body, for non-stream routes */
  gint64 started_us;         /* monotonic */
  guint64 body_bytes;
  gboolean too_large;
  char *sandbox_id;          /* for routes under /sandboxes/{id} */
  MrToolboxRequest *toolbox;
  MrJournalTracker *journal; /* mr-journal.c */
} MrExchange;

typedef void (*MrRouteHandler) (MrExchange *ex);

MrExchange *mr_exchange_get (SoupServerMessage *msg);
const char *mr_exchange_param (MrExchange *ex, const char *name);
const char *mr_exchange_query (MrExchange *ex, const char *name);
void        mr_exchange_set_toolbox (MrExchange *ex, MrToolboxRequest *request);

MrMetrics  *mr_runner_get_metrics (MrRunner *self);
SoupServer *mr_runner_get_soup_server (MrRunner *self);
MrHostInfo *mr_runner_get_host_info (MrRunner *self);
gint64      mr_runner_get_start_time (MrRunner *self);
void        mr_runner_observe_operation (MrRunner *self, const char *operation, gboolean success, gint64 started_us);
GPtrArray  *mr_runner_get_plugins (MrRunner *self);
/* the runner's SSH access tokens (src/ssh/mr-ssh-access.h); thread-safe */
MrSshAccessStore *mr_runner_get_ssh_access (MrRunner *self);

/* Test controls: request journal (mr-journal.c), fault rules (mr-faults.c), lifecycle
 * timing (mr-timing.c), state export/import (mr-state.c). Their stores are owned by the
 * runner and used on the server thread; public methods marshal there. */
typedef void (*MrServerFunc) (MrRunner *runner, gpointer data);
typedef void (*MrExchangeFunc) (MrExchange *ex);
typedef struct _MrJournal MrJournal;
typedef struct _MrFaults MrFaults;
typedef struct _MrTiming MrTiming;

gboolean    mr_runner_run_on_server (MrRunner *self, MrServerFunc func, gpointer data);
MrJournal  *mr_runner_get_journal (MrRunner *self);
MrFaults   *mr_runner_get_fault_set (MrRunner *self);
MrTiming   *mr_runner_get_timing_state (MrRunner *self);
void        mr_runner_emit_request_served (MrRunner *self, const MrJournalEntry *entry);

MrJournal  *mr_journal_new (guint max_entries);
void        mr_journal_free (MrJournal *journal);
void        mr_journal_set_max_entries (MrJournal *journal, guint max_entries);
guint       mr_journal_get_max_entries (MrJournal *journal);
void        mr_journal_clear (MrJournal *journal);
GPtrArray  *mr_journal_query (MrJournal *journal, const char *method, const char *path, const char *sandbox_id);
guint64     mr_journal_get_dropped (MrJournal *journal);
gboolean    mr_journal_path_matches (const char *pattern, const char *path, const char *route);
MrJournalTracker *mr_journal_watch (MrRunner *runner, MrExchange *ex);
void        mr_journal_tracker_free (MrJournalTracker *tracker);
void        mr_journal_body_read (MrExchange *ex);
void        mr_journal_capture (MrExchange *ex);
void        mr_journal_note_fault (MrExchange *ex, const char *fault_id);
void        mr_journal_complete (MrExchange *ex);

MrFaults   *mr_faults_new (void);
void        mr_faults_free (MrFaults *faults);
char       *mr_faults_add (MrFaults *faults, const MrFaultRule *rule, GError **error);
gboolean    mr_faults_remove (MrFaults *faults, const char *id);
void        mr_faults_clear (MrFaults *faults);
GPtrArray  *mr_faults_list (MrFaults *faults);
gboolean    mr_faults_intercept (MrFaults *faults, MrExchange *ex, MrExchangeFunc proceed);
void        mr_faults_cancel_pending (MrFaults *faults);

MrTiming   *mr_timing_new (void);
void        mr_timing_free (MrTiming *timing);
gboolean    mr_timing_parse (const char *text, MrTimingMode *mode, guint *delay_ms, GError **error);
void        mr_timing_set (MrTiming *timing, const char *sandbox_id, MrTimingMode mode, guint delay_ms);
void        mr_timing_unset (MrTiming *timing, const char *sandbox_id);
MrTimingMode mr_timing_get (MrTiming *timing, const char *sandbox_id, guint *delay_ms);
void        mr_timing_set_baseline (MrTiming *timing, MrTimingMode mode, guint delay_ms);
void        mr_timing_reset (MrTiming *timing);
void        mr_timing_cancel_all (MrTiming *timing);
void        mr_timing_schedule (MrTiming *timing, MrRunner *runner, const char *sandbox_id, MrSandboxState target,
                                MrTransitionFunc func, gpointer data, GDestroyNotify destroy);
guint       mr_timing_advance (MrTiming *timing, const char *sandbox_id);
guint       mr_timing_count_pending (MrTiming *timing, const char *sandbox_id);
JsonNode   *mr_timing_to_json (MrTiming *timing);

/* The runner's clock (mr-clock.c): real time plus an offset tests advance; thread-safe. */
typedef struct _MrClock MrClock;
#define MR_CLOCK_MAX_OFFSET_US (100 * 365 * G_TIME_SPAN_DAY)

MrClock    *mr_runner_get_clock (MrRunner *self);
MrClock    *mr_clock_new (void);
void        mr_clock_free (MrClock *clock);
gint64      mr_clock_get_offset (MrClock *clock);
gint64      mr_clock_real_time (MrClock *clock);
gint64      mr_clock_monotonic_time (MrClock *clock);
gboolean    mr_clock_advance (MrClock *clock, gint64 usec, GError **error);
void        mr_clock_reset (MrClock *clock);

JsonNode   *mr_state_export (MrRunner *runner);
gboolean    mr_state_import (MrRunner *runner, JsonNode *node, GError **error);

/* the toolbox dispatch shared by every route that serves the toolbox API */
void mr_api_toolbox_dispatch (MrExchange *ex, const char *sandbox_id, const char *path, const char *prefix);
void mr_api_toolbox_body (MrExchange *ex);

/* route tables, one per file in api/ */
void mr_api_register_health (MrRouter *router);
void mr_api_register_sandboxes (MrRouter *router);
void mr_api_register_snapshots (MrRouter *router);
void mr_api_register_toolbox (MrRouter *router);
void mr_api_register_mock (MrRouter *router);
void mr_api_register_ssh (MrRouter *router);

/* the control-plane facade (api/mr-api-control-plane*.c): registered last; reset with the runner */
void mr_api_register_control_plane (MrRouter *router);
void mr_api_control_plane_reset (MrRunner *runner);
gboolean mr_api_control_plane_check_options (MrRunner *runner, GError **error);

G_END_DECLS
