/* mr-toolbox-info.c: /version, /work-dir, /user-home-dir, /project-dir and /init. */
#include "mr-toolbox-private.h"
#include "mr-toolbox-json-bind.h"

static void
reply_member (MrTbCall *call, const char *name, const char *value)
{
  g_autoptr(JsonObject) o = json_object_new ();
  g_autoptr(JsonNode) node = NULL;

  json_object_set_string_member (o, name, value);
  node = json_node_init_object (json_node_alloc (), o);
  mr_tb_reply_json (call, 200, node);
}

static void
handle_version (MrTbCall *call)
{
  reply_member (call, "version", mr_toolbox_get_version (call->toolbox));
}

static void
handle_work_dir (MrTbCall *call)
{
  reply_member (call, "dir", mr_toolbox_get_work_dir (call->toolbox));
}

static void
handle_home_dir (MrTbCall *call)
{
  reply_member (call, "dir", mr_toolbox_get_home_dir (call->toolbox));
}

static void
handle_init (MrTbCall *call)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) body = mr_tb_parse_body_object (call, &error);
  const char *token;

  if (body == NULL)
    {
      mr_tb_reply_error_printf (call, 400, "invalid request body: %s", error->message);
      return;
    }
  token = mr_tb_json_string (body, "token");
  if (token == NULL || *token == '\0')
    {
      mr_tb_reply_error (call, 400,
                         "invalid request body: Key: 'InitializeRequest.Token' Error:Field validation for 'Token' failed on the 'required' tag");
      return;
    }
  reply_member (call, "message", "Auth token set and telemetry initialized successfully");
}

static const MrRoute routes[] = {
  { "GET", "/version", handle_version, NULL, 0, "version" },
  { "GET", "/work-dir", handle_work_dir, NULL, 0, "work-dir" },
  { "GET", "/user-home-dir", handle_home_dir, NULL, 0, "user-home-dir" },
  { "GET", "/project-dir", handle_home_dir, NULL, 0, "project-dir" },
  { "POST", "/init", handle_init, NULL, 0, "init" },
};

void
mr_tb_register_info (MrRouter *router)
{
  mr_router_add_all (router, routes, G_N_ELEMENTS (routes));
}
