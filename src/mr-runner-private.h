/* mr-runner-private.h: what the route handlers in api/ see of the runner. Not installed. */
#pragma once

#include <libsoup/soup.h>

#include "mr-runner.h"
#include "mr-router.h"
#include "mr-metrics.h"
#include "mr-hostinfo.h"
#include "ssh/mr-ssh-access.h"

G_BEGIN_DECLS

/* Route flags */
enum {
  MR_ROUTE_PUBLIC  = 1 << 0,   /* no token needed */
  MR_ROUTE_METRICS = 1 << 1,   /* public unless METRICS_AUTH=true */
  MR_ROUTE_STREAM  = 1 << 2,   /* the handler consumes the body itself: no size limit */
};

/* One request's state from its headers to its reply. */
typedef struct {
  MrRunner *runner;
  SoupServerMessage *msg;
  const MrRoute *route;
  GHashTable *params;        /* path parameters, decoded */
  GHashTable *query;         /* decoded query, may be NULL */
  GBytes *body;              /* the request body, for non-stream routes */
  gint64 started_us;         /* monotonic */
  guint64 body_bytes;
  gboolean too_large;
  char *sandbox_id;          /* for routes under /sandboxes/{id} */
  MrToolboxRequest *toolbox;
} MrExchange;

typedef void (*MrRouteHandler) (MrExchange *ex);

MrExchange *mr_exchange_get (SoupServerMessage *msg);
const char *mr_exchange_param (MrExchange *ex, const char *name);
const char *mr_exchange_query (MrExchange *ex, const char *name);

MrMetrics  *mr_runner_get_metrics (MrRunner *self);
MrHostInfo *mr_runner_get_host_info (MrRunner *self);
gint64      mr_runner_get_start_time (MrRunner *self);
void        mr_runner_observe_operation (MrRunner *self, const char *operation, gboolean success, gint64 started_us);
GPtrArray  *mr_runner_get_plugins (MrRunner *self);
/* the runner's SSH access tokens (src/ssh/mr-ssh-access.h); thread-safe */
MrSshAccessStore *mr_runner_get_ssh_access (MrRunner *self);

/* route tables, one per file in api/ */
void mr_api_register_health (MrRouter *router);
void mr_api_register_sandboxes (MrRouter *router);
void mr_api_register_snapshots (MrRouter *router);
void mr_api_register_toolbox (MrRouter *router);
void mr_api_register_ssh (MrRouter *router);

G_END_DECLS
