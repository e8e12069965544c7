/* mr-toolbox-env.c: POST /env (toolbox client 0.218's ServerApi.updateEnv) and the
 * environment every process the toolbox starts begins with.
 *
 * The newer daemon changes its own process environment (os.Setenv), so that later
 * execs, sessions, PTYs and git inherit the change while running processes keep theirs.
 * Two toolboxes may live in one process (two runners), so this toolbox never touches the
 * process environment: it keeps its own copy, in the "env" area, once a client changed
 * it. Resetting the toolbox drops that copy, like a restarted daemon. */
#include <string.h>

#include "mr-toolbox-json-bind.h"

#define ENV_AREA "env"

typedef struct {
  char **env;                   /* the base environment of children, "NAME=value" */
} EnvState;

static void
env_state_free (EnvState *state)
{
  g_strfreev (state->env);
  g_free (state);
}

/**
 * mr_tb_base_environ: (skip)
 *
 * The environment children start from: the runner's, with HOME set to the toolbox home
 * directory, as changed by POST /env since the last reset.
 *
 * Returns: (transfer full): a new environment
 */
char **
mr_tb_base_environ (MrToolbox *toolbox)
{
  EnvState *state = mr_tb_area_get (toolbox, ENV_AREA);

  if (state)
    return g_strdupv (state->env);
  return g_environ_setenv (g_get_environ (), "HOME", mr_toolbox_get_home_dir (toolbox), TRUE);
}

/* What Go's syscall.Setenv refuses (EINVAL): an empty name, "=" or NUL in the name. The
 * value cannot hold a NUL here: JSON strings are read as C strings. */
static gboolean
valid_name (const char *name)
{
  return *name != '\0' && strchr (name, '=') == NULL;
}

static void
handle_update_env (MrTbCall *call)
{
  static const MrTbField fields[] = {
    { "set", "Set", MR_TB_FIELD_OBJECT, FALSE },
    { "unset", "Unset", MR_TB_FIELD_STRING_ARRAY, FALSE },
    { "unsetValuePrefix", "UnsetValuePrefix", MR_TB_FIELD_STRING, FALSE },
    { NULL, NULL, 0, FALSE },
  };
  g_autoptr(JsonObject) body = mr_tb_bind_json_or_reply (call, "UpdateEnvRequest", fields);
  g_autoptr(JsonObject) response = NULL;
  g_autoptr(JsonNode) node = NULL;
  g_auto(GStrv) unset = NULL;
  g_auto(GStrv) env = NULL;
  JsonObject *set = NULL;
  const char *prefix;
  EnvState *state;

  if (body == NULL)
    return;
  if (mr_tb_json_has (body, "set"))
    set = json_object_get_object_member (body, "set");
  /* map[string]string: every value must decode as a string (null leaves "") */
  if (set)
    {
      g_autoptr(GList) names = json_object_get_members (set);

      for (GList *l = names; l; l = l->next)
        {
          JsonNode *value = json_object_get_member (set, l->data);

          if (!JSON_NODE_HOLDS_NULL (value) &&
              !(JSON_NODE_HOLDS_VALUE (value) && json_node_get_value_type (value) == G_TYPE_STRING))
            {
              mr_tb_reply_error_printf (call, 400,
                                        "invalid request body: json: cannot unmarshal %s into Go struct field UpdateEnvRequest.set of type string",
                                        JSON_NODE_HOLDS_OBJECT (value) ? "object" :
                                        JSON_NODE_HOLDS_ARRAY (value) ? "array" :
                                        json_node_get_value_type (value) == G_TYPE_BOOLEAN ? "bool" : "number");
              return;
            }
          if (!valid_name (l->data))
            {
              mr_tb_reply_error (call, 500, "setenv: invalid argument");
              return;
            }
        }
    }

  env = mr_tb_base_environ (call->toolbox);
  prefix = mr_tb_json_string (body, "unsetValuePrefix");
  if (prefix && *prefix)
    {
      g_auto(GStrv) current = g_strdupv (env);

      for (char **kv = current; *kv; kv++)
        {
          const char *eq = strchr (*kv, '=');
          g_autofree char *name = eq ? g_strndup (*kv, eq - *kv) : NULL;

          if (name && g_str_has_prefix (eq + 1, prefix) && !(set && json_object_has_member (set, name)))
            env = g_environ_unsetenv (env, name);
        }
    }
  unset = mr_tb_json_strv (body, "unset");
  for (char **name = unset; *name; name++)
    if (valid_name (*name))
      env = g_environ_unsetenv (env, *name);
  if (set)
    {
      g_autoptr(GList) names = json_object_get_members (set);

      for (GList *l = names; l; l = l->next)
        {
          const char *value = mr_tb_json_string (set, l->data);
          env = g_environ_setenv (env, l->data, value ? value : "", TRUE);
        }
    }

  state = mr_tb_area_get (call->toolbox, ENV_AREA);
  if (state == NULL)
    {
      state = g_new0 (EnvState, 1);
      mr_tb_area_set (call->toolbox, ENV_AREA, state, (GDestroyNotify) env_state_free);
    }
  g_strfreev (state->env);
  state->env = g_steal_pointer (&env);

  response = json_object_new ();
  json_object_set_string_member (response, "message", "Environment updated successfully");
  node = json_node_init_object (json_node_alloc (), response);
  mr_tb_reply_json (call, 200, node);
}

static const MrRoute routes[] = {
  { "POST", "/env", handle_update_env, NULL, 0, "env" },
};

void
mr_tb_register_env (MrRouter *router)
{
  mr_router_add_all (router, routes, G_N_ELEMENTS (routes));
}
