/* mr-router.c: a small segment matcher. Routes are tried in registration order, so a
 * literal route registered before a parameterised one wins over it. */
#include <string.h>

#include "mr-router.h"

typedef struct {
  MrRoute route;
  char **segments;
} Entry;

struct _MrRouter {
  GPtrArray *entries;
};

static void
entry_free (Entry *e)
{
  g_strfreev (e->segments);
  g_free (e);
}

MrRouter *
mr_router_new (void)
{
  MrRouter *router = g_new0 (MrRouter, 1);

  router->entries = g_ptr_array_new_with_free_func ((GDestroyNotify) entry_free);
  return router;
}

void
mr_router_free (MrRouter *router)
{
  if (router == NULL)
    return;
  g_ptr_array_unref (router->entries);
  g_free (router);
}

static char **
split_path (const char *path)
{
  /* "/a/b" -> ["a", "b"]; "/" -> []; keeps an empty last segment for "/a/" */
  if (path[0] == '/')
    path++;
  if (*path == '\0')
    return g_new0 (char *, 1);
  return g_strsplit (path, "/", -1);
}

void
mr_router_add (MrRouter *router, const MrRoute *route)
{
  Entry *e = g_new0 (Entry, 1);

  e->route = *route;
  e->segments = split_path (route->pattern);
  g_ptr_array_add (router->entries, e);
}

void
mr_router_add_all (MrRouter *router, const MrRoute *routes, gsize n_routes)
{
  for (gsize i = 0; i < n_routes; i++)
    mr_router_add (router, &routes[i]);
}

/* Matches @path against @e; on success fills @params (if not NULL). */
static gboolean
match_entry (const Entry *e, const char *path, char **segments, GHashTable *params)
{
  guint n = g_strv_length (segments);
  guint i;

  for (i = 0; e->segments[i]; i++)
    {
      const char *p = e->segments[i];

      if (p[0] == '*')
        {
          /* the rest of the path after segment i-1, with its leading "/"; the path must
           * go on past the prefix ("/x/toolbox" itself redirects to "/x/toolbox/") */
          const char *rest = path;
          if (i >= n)
            return FALSE;
          for (guint k = 0; k < i && rest; k++)
            rest = strchr (rest + 1, '/');
          if (params)
            g_hash_table_insert (params, g_strdup (p + 1), g_strdup (rest && *rest ? rest : "/"));
          return TRUE;
        }
      if (i >= n)
        return FALSE;
      if (p[0] == '{')
        {
          /* a segment that does not decode to a C string (an escaped NUL, a bad escape)
           * names nothing: no handler may see a NULL parameter */
          g_autofree char *value = segments[i][0] ? g_uri_unescape_string (segments[i], NULL) : NULL;
          if (value == NULL)
            return FALSE;
          if (params)
            g_hash_table_insert (params, g_strndup (p + 1, strlen (p) - 2), g_steal_pointer (&value));
          continue;
        }
      if (strcmp (p, segments[i]) != 0)
        return FALSE;
    }
  return i == n;
}

static gboolean
method_matches (const MrRoute *route, const char *method)
{
  return strcmp (route->method, "*") == 0 || strcmp (route->method, method) == 0 ||
         (strcmp (method, "HEAD") == 0 && strcmp (route->method, "GET") == 0);
}

static gboolean
path_exists (MrRouter *router, const char *path)
{
  g_auto(GStrv) segments = split_path (path);

  for (guint i = 0; i < router->entries->len; i++)
    if (match_entry (router->entries->pdata[i], path, segments, NULL))
      return TRUE;
  return FALSE;
}

MrRouteMatch
mr_router_match (MrRouter *router, const char *method, const char *path,
                 const MrRoute **route, GHashTable **params, char **redirect)
{
  g_auto(GStrv) segments = split_path (path);
  gboolean other_method = FALSE;
  g_autofree char *alternative = NULL;

  *route = NULL;
  if (params)
    *params = NULL;
  if (redirect)
    *redirect = NULL;

  for (guint i = 0; i < router->entries->len; i++)
    {
      Entry *e = router->entries->pdata[i];

      if (!match_entry (e, path, segments, NULL))
        continue;
      if (!method_matches (&e->route, method))
        {
          other_method = TRUE;
          continue;
        }
      *route = &e->route;
      if (params)
        {
          *params = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
          match_entry (e, path, segments, *params);
        }
      return MR_ROUTE_MATCH_FOUND;
    }
  if (other_method)
    return MR_ROUTE_MATCH_WRONG_METHOD;

  /* Gin redirects to the path with the trailing slash added or removed */
  if (g_str_has_suffix (path, "/") && strlen (path) > 1)
    alternative = g_strndup (path, strlen (path) - 1);
  else
    alternative = g_strconcat (path, "/", NULL);
  if (path_exists (router, alternative))
    {
      if (redirect)
        *redirect = g_steal_pointer (&alternative);
      return MR_ROUTE_MATCH_REDIRECT;
    }
  return MR_ROUTE_MATCH_NONE;
}

char *
mr_router_allowed_methods (MrRouter *router, const char *path)
{
  g_auto(GStrv) segments = split_path (path);
  GString *out = g_string_new (NULL);

  for (guint i = 0; i < router->entries->len; i++)
    {
      Entry *e = router->entries->pdata[i];
      if (!match_entry (e, path, segments, NULL) || strstr (out->str, e->route.method))
        continue;
      if (out->len)
        g_string_append (out, ", ");
      g_string_append (out, e->route.method);
    }
  return g_string_free (out, FALSE);
}
