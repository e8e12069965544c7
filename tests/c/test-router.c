/* The route matcher: parameters, wildcards, methods, trailing-slash redirects. */
#include "mr-router.h"

static MrRouter *
make_router (void)
{
  static const MrRoute routes[] = {
    { "GET", "/", NULL, NULL, 0, "health" },
    { "POST", "/sandboxes", NULL, NULL, 0, "create" },
    { "GET", "/sandboxes/{id}", NULL, NULL, 0, "get" },
    { "DELETE", "/sandboxes/{id}", NULL, NULL, 0, "remove" },
    { "POST", "/sandboxes/{id}/start", NULL, NULL, 0, "start" },
    { "*", "/sandboxes/{id}/toolbox/*path", NULL, NULL, 0, "toolbox" },
  };
  MrRouter *router = mr_router_new ();

  mr_router_add_all (router, routes, G_N_ELEMENTS (routes));
  return router;
}

static void
test_params (void)
{
  g_autoptr(MrRouter) router = make_router ();
  g_autoptr(MrRouteParams) params = NULL;
  const MrRoute *route;

  g_assert_cmpint (mr_router_match (router, "GET", "/sandboxes/a%20b", &route, &params, NULL), ==, MR_ROUTE_MATCH_FOUND);
  g_assert_cmpstr (route->name, ==, "get");
  g_assert_cmpstr (mr_route_params_get (params, "id"), ==, "a b");
  g_assert_null (mr_route_params_get (params, "other"));
  g_clear_pointer (&params, mr_route_params_free);
  g_assert_cmpint (mr_router_match (router, "HEAD", "/", &route, &params, NULL), ==, MR_ROUTE_MATCH_FOUND);
}

/* A parameter that cannot become a C string matches nothing (handlers used to get NULL). */
static void
test_undecodable_params (void)
{
  g_autoptr(MrRouter) router = make_router ();
  const char *paths[] = { "/sandboxes/%00", "/sandboxes/a%00b/start", "/sandboxes/%zz", "/sandboxes/a%",
                          "/sandboxes/%zz/toolbox/x" };

  for (guint i = 0; i < G_N_ELEMENTS (paths); i++)
    {
      g_autoptr(MrRouteParams) params = NULL;
      g_autofree char *redirect = NULL;
      const MrRoute *route;
      const char *method = g_str_has_suffix (paths[i], "/start") ? "POST" : "GET";
      g_assert_cmpint (mr_router_match (router, method, paths[i], &route, &params, &redirect), ==, MR_ROUTE_MATCH_NONE);
      g_assert_null (route);
      g_assert_null (params);
    }
}

static void
test_wildcard (void)
{
  g_autoptr(MrRouter) router = make_router ();
  struct { const char *path, *rest; } cases[] = {
    { "/sandboxes/x/toolbox/files/info", "/files/info" },
    { "/sandboxes/x/toolbox/", "/" },
    { "/sandboxes/x/toolbox/proxy/3000/a/b/", "/proxy/3000/a/b/" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(MrRouteParams) params = NULL;
      const MrRoute *route;
      g_assert_cmpint (mr_router_match (router, "PATCH", cases[i].path, &route, &params, NULL), ==, MR_ROUTE_MATCH_FOUND);
      g_assert_cmpstr (route->name, ==, "toolbox");
      g_assert_cmpstr (mr_route_params_get (params, "path"), ==, cases[i].rest);
      g_assert_cmpstr (mr_route_params_get (params, "id"), ==, "x");
    }
}

static void
test_misses (void)
{
  g_autoptr(MrRouter) router = make_router ();
  g_autofree char *redirect = NULL;
  g_autofree char *allowed = NULL;
  const MrRoute *route;

  g_assert_cmpint (mr_router_match (router, "GET", "/nope", &route, NULL, NULL), ==, MR_ROUTE_MATCH_NONE);
  g_assert_null (route);
  g_assert_cmpint (mr_router_match (router, "PUT", "/sandboxes/x", &route, NULL, NULL), ==, MR_ROUTE_MATCH_WRONG_METHOD);
  allowed = mr_router_allowed_methods (router, "/sandboxes/x");
  g_assert_cmpstr (allowed, ==, "GET, DELETE");
  g_assert_cmpint (mr_router_match (router, "POST", "/sandboxes/", &route, NULL, &redirect), ==, MR_ROUTE_MATCH_REDIRECT);
  g_assert_cmpstr (redirect, ==, "/sandboxes");
  g_clear_pointer (&redirect, g_free);
  g_assert_cmpint (mr_router_match (router, "GET", "/sandboxes/x/toolbox", &route, NULL, &redirect), ==, MR_ROUTE_MATCH_REDIRECT);
  g_assert_cmpstr (redirect, ==, "/sandboxes/x/toolbox/");
  g_assert_cmpint (mr_router_match (router, "GET", "/sandboxes//start", &route, NULL, NULL), ==, MR_ROUTE_MATCH_NONE);
}

/* Paths longer than the matcher's stack room (32 segments) match the same way. */
static void
test_long_paths (void)
{
  g_autoptr(MrRouter) router = make_router ();
  g_autoptr(GString) rest = g_string_new (NULL);
  g_autoptr(MrRouteParams) params = NULL;
  g_autofree char *path = NULL;
  const MrRoute *route;

  for (int i = 0; i < 100; i++)
    g_string_append_printf (rest, "/d%d", i);
  path = g_strconcat ("/sandboxes/x/toolbox", rest->str, NULL);
  g_assert_cmpint (mr_router_match (router, "GET", path, &route, &params, NULL), ==, MR_ROUTE_MATCH_FOUND);
  g_assert_cmpstr (mr_route_params_get (params, "path"), ==, rest->str);
  g_assert_cmpint (mr_router_match (router, "GET", rest->str, &route, NULL, NULL), ==, MR_ROUTE_MATCH_NONE);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/router/params", test_params);
  g_test_add_func ("/router/undecodable-params", test_undecodable_params);
  g_test_add_func ("/router/wildcard", test_wildcard);
  g_test_add_func ("/router/misses", test_misses);
  g_test_add_func ("/router/long-paths", test_long_paths);
  return g_test_run ();
}
