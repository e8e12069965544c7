/* mr-router.h: method + path pattern -> route. Patterns are "/" separated literal
 * segments, "{name}" segments that capture one segment, and a final "*name" that
 * captures the rest of the path including its leading "/". */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _MrRouter MrRouter;

/* The path parameters of a match: a vector rather than a hash table, as there are one or
 * two, looked up once or twice, on every request. */
typedef struct _MrRouteParams MrRouteParams;

typedef struct {
  const char *method;      /* "GET", ..., or "*" for any method */
  const char *pattern;
  gpointer handler;
  gpointer early_handler;
  guint flags;
  const char *name;        /* a stable label for logs, metrics and the journal */
} MrRoute;

typedef enum {
  MR_ROUTE_MATCH_NONE,
  MR_ROUTE_MATCH_FOUND,
  MR_ROUTE_MATCH_WRONG_METHOD,   /* the path exists for other methods */
  MR_ROUTE_MATCH_REDIRECT,       /* the path exists with/without a trailing slash */
} MrRouteMatch;

MrRouter     *mr_router_new (void);
void          mr_router_free (MrRouter *router);
void          mr_router_add (MrRouter *router, const MrRoute *route);
void          mr_router_add_all (MrRouter *router, const MrRoute *routes, gsize n_routes);
MrRouteMatch  mr_router_match (MrRouter *router, const char *method, const char *path,
                               const MrRoute **route, MrRouteParams **params, char **redirect);
const char   *mr_route_params_get (const MrRouteParams *params, const char *name);
void          mr_route_params_free (MrRouteParams *params);
char         *mr_router_allowed_methods (MrRouter *router, const char *path);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MrRouter, mr_router_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MrRouteParams, mr_route_params_free)

G_END_DECLS
