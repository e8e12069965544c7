/* mr-router.c: a small segment matcher. Routes are tried in registration order, so a
 * literal route registered before a parameterised one wins over it. */
#include <string.h>

#include "mr-router.h"

typedef struct {
  MrRoute route;
  char **segments;
  gsize *lengths;            /* of each segment */
  guint n_segments;
  guint n_params;            /* "{name}" and "*name" segments */
  int wildcard;              /* index of the "*name" segment, or -1 */
} Entry;

struct _MrRouter {
  GPtrArray *entries;
};

struct _MrRouteParams {
  guint n;                   /* names and values */
  char *strings[];           /* name, value (NULL if it does not decode), ... */
};

/* A request path cut at its slashes, in place: matching runs for every request, so it
 * allocates nothing unless the path has more segments than fit on the stack. */
typedef struct {
  const char *start;
  gsize len;
} Span;

typedef struct {
  Span *spans;
  guint n;
  Span local[32];
} Segments;

static void
entry_free (Entry *e)
{
  g_strfreev (e->segments);
  g_free (e->lengths);
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

/* The same cut as split_path(), as spans of @path. */
static void
segments_init (Segments *s, const char *path)
{
  guint capacity = G_N_ELEMENTS (s->local);

  s->spans = s->local;
  s->n = 0;
  if (path[0] == '/')
    path++;
  if (*path == '\0')
    return;
  for (;;)
    {
      const char *slash = strchr (path, '/');

      if (s->n == capacity)
        {
          Span *more = g_new (Span, capacity * 2);
          memcpy (more, s->spans, capacity * sizeof (Span));
          if (s->spans != s->local)
            g_free (s->spans);
          s->spans = more;
          capacity *= 2;
        }
      s->spans[s->n].start = path;
      s->spans[s->n].len = slash ? (gsize) (slash - path) : strlen (path);
      s->n++;
      if (slash == NULL)
        break;
      path = slash + 1;
    }
}

static void
segments_clear (Segments *s)
{
  if (s->spans != s->local)
    g_free (s->spans);
}

void
mr_router_add (MrRouter *router, const MrRoute *route)
{
  Entry *e = g_new0 (Entry, 1);

  e->route = *route;
  e->segments = split_path (route->pattern);
  e->n_segments = g_strv_length (e->segments);
  e->lengths = g_new (gsize, e->n_segments + 1);
  e->wildcard = -1;
  for (guint i = 0; i < e->n_segments; i++)
    {
      e->lengths[i] = strlen (e->segments[i]);
      if (e->segments[i][0] == '*' && e->wildcard < 0)
        e->wildcard = i;
      if (e->segments[i][0] == '*' || e->segments[i][0] == '{')
        e->n_params++;
    }
  g_ptr_array_add (router->entries, e);
}

void
mr_router_add_all (MrRouter *router, const MrRoute *routes, gsize n_routes)
{
  for (gsize i = 0; i < n_routes; i++)
    mr_router_add (router, &routes[i]);
}

/* Matches @path (cut into @segments) against @e; on success fills @params (if not NULL:
 * room for the entry's parameters, as names and values). */
static gboolean
match_entry (const Entry *e, const char *path, const Segments *segments, char **params)
{
  guint n = segments->n;
  guint i;

  /* most entries are told apart by their number of segments alone */
  if (e->wildcard < 0 ? n != e->n_segments : n <= (guint) e->wildcard)
    return FALSE;
  for (i = 0; e->segments[i]; i++)
    {
      const char *p = e->segments[i];
      const Span *segment = &segments->spans[i];

      if (p[0] == '*')
        {
          /* the rest of the path after segment i-1, with its leading "/"; the path must
           * go on past the prefix ("/x/toolbox" itself redirects to "/x/toolbox/") */
          const char *rest = path;
          for (guint k = 0; k < i && rest; k++)
            rest = strchr (rest + 1, '/');
          if (params)
            {
              *params++ = g_strdup (p + 1);
              *params++ = g_strdup (rest && *rest ? rest : "/");
            }
          return TRUE;
        }
      if (p[0] == '{')
        {
          if (segment->len == 0)
            return FALSE;
          /* a segment that does not decode to a C string (an escaped NUL, a bad escape)
           * names nothing: no handler may see a NULL parameter */
          if (memchr (segment->start, '%', segment->len))
            {
              g_autofree char *value = g_uri_unescape_segment (segment->start, segment->start + segment->len, NULL);
              if (value == NULL)
                return FALSE;
            }
          if (params)
            {
              *params++ = g_strndup (p + 1, e->lengths[i] - 2);
              /* most ids have nothing to decode: a copy is a fraction of the decoder's cost */
              *params++ = memchr (segment->start, '%', segment->len)
                          ? g_uri_unescape_segment (segment->start, segment->start + segment->len, NULL)
                          : g_strndup (segment->start, segment->len);
            }
          continue;
        }
      if (e->lengths[i] != segment->len || memcmp (p, segment->start, segment->len) != 0)
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
  Segments segments;
  gboolean found = FALSE;

  segments_init (&segments, path);
  for (guint i = 0; i < router->entries->len && !found; i++)
    found = match_entry (router->entries->pdata[i], path, &segments, NULL);
  segments_clear (&segments);
  return found;
}

MrRouteMatch
mr_router_match (MrRouter *router, const char *method, const char *path,
                 const MrRoute **route, MrRouteParams **params, char **redirect)
{
  Segments segments;
  gboolean other_method = FALSE;
  g_autofree char *alternative = NULL;

  *route = NULL;
  if (params)
    *params = NULL;
  if (redirect)
    *redirect = NULL;

  segments_init (&segments, path);
  for (guint i = 0; i < router->entries->len; i++)
    {
      Entry *e = router->entries->pdata[i];

      if (!match_entry (e, path, &segments, NULL))
        continue;
      if (!method_matches (&e->route, method))
        {
          other_method = TRUE;
          continue;
        }
      *route = &e->route;
      if (params)
        {
          *params = g_malloc0 (sizeof (MrRouteParams) + 2 * e->n_params * sizeof (char *));
          (*params)->n = 2 * e->n_params;
          match_entry (e, path, &segments, (*params)->strings);
        }
      segments_clear (&segments);
      return MR_ROUTE_MATCH_FOUND;
    }
  segments_clear (&segments);
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
  Segments segments;
  GString *out = g_string_new (NULL);

  segments_init (&segments, path);
  for (guint i = 0; i < router->entries->len; i++)
    {
      Entry *e = router->entries->pdata[i];
      if (!match_entry (e, path, &segments, NULL) || strstr (out->str, e->route.method))
        continue;
      if (out->len)
        g_string_append (out, ", ");
      g_string_append (out, e->route.method);
    }
  segments_clear (&segments);
  return g_string_free (out, FALSE);
}

/**
 * mr_route_params_get: (skip)
 * @params: (nullable): path parameters from mr_router_match()
 * @name: a parameter's name
 *
 * Returns: (nullable): its decoded value
 */
const char *
mr_route_params_get (const MrRouteParams *params, const char *name)
{
  for (guint i = 0; params && i + 1 < params->n; i += 2)
    if (strcmp (params->strings[i], name) == 0)
      return params->strings[i + 1];
  return NULL;
}

/**
 * mr_route_params_free: (skip)
 * @params: (nullable): path parameters
 */
void
mr_route_params_free (MrRouteParams *params)
{
  if (params == NULL)
    return;
  for (guint i = 0; i < params->n; i++)
    g_free (params->strings[i]);
  g_free (params);
}
