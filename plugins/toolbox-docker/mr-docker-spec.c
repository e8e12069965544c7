/* mr-docker-spec.c: Engine API bodies (container create, exec) and parsing (inspect,
 * pull progress). Field names are the Docker Engine API's; podman's compatible API
 * takes the same. */
#include <string.h>

#include "mr-docker-spec.h"
#include "mr-error.h"

/**
 * mr_docker_spec_parse_ulimits: (skip)
 * @text: "name=soft[:hard],..." as for `docker run --ulimit`
 * @builder: (nullable): receives one {"Name","Soft","Hard"} object per limit, inside an
 *   array the caller has begun
 * @error: return location for a #GError
 *
 * Returns: %TRUE if @text is valid
 */
gboolean
mr_docker_spec_parse_ulimits (const char *text, JsonBuilder *builder, GError **error)
{
  g_auto(GStrv) items = g_strsplit (text, ",", -1);

  for (char **item = items; *item; item++)
    {
      g_autofree char *entry = g_strstrip (g_strdup (*item));
      g_auto(GStrv) name_value = NULL;
      g_auto(GStrv) limits = NULL;
      gint64 soft, hard;

      if (*entry == '\0')
        continue;
      name_value = g_strsplit (entry, "=", 2);
      if (name_value[1] == NULL || *name_value[0] == '\0')
        goto invalid;
      limits = g_strsplit (name_value[1], ":", 2);
      if (!g_ascii_string_to_signed (limits[0], 10, -1, G_MAXINT64, &soft, NULL))
        goto invalid;
      hard = soft;
      if (limits[1] && !g_ascii_string_to_signed (limits[1], 10, -1, G_MAXINT64, &hard, NULL))
        goto invalid;
      if (builder)
        {
          json_builder_begin_object (builder);
          json_builder_set_member_name (builder, "Name");
          json_builder_add_string_value (builder, name_value[0]);
          json_builder_set_member_name (builder, "Soft");
          json_builder_add_int_value (builder, soft);
          json_builder_set_member_name (builder, "Hard");
          json_builder_add_int_value (builder, hard);
          json_builder_end_object (builder);
        }
      continue;
invalid:
      g_set_error (error, MR_ERROR, MR_ERROR_CONFIG, "invalid ulimit '%s' (expected name=soft[:hard])", entry);
      return FALSE;
    }
  return TRUE;
}

/**
 * mr_docker_spec_create_body: (skip)
 * @spec: the container wanted
 * @error: return location for a #GError
 *
 * The body of POST /containers/create for the shared toolbox container: the seed's
 * (an idle command, WorkingDir /home/daytona, a TTY, restart unless-stopped, default
 * network, no privileges) plus what the engine may need (ulimits, a published port).
 *
 * Returns: (transfer full) (nullable): the body
 */
JsonNode *
mr_docker_spec_create_body (const MrDockerContainerSpec *spec, GError **error)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autofree char *port_key = g_strdup_printf ("%d/tcp", MR_DOCKER_DAEMON_PORT);

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "Image");
  json_builder_add_string_value (b, spec->image);
  json_builder_set_member_name (b, "Cmd");
  json_builder_begin_array (b);
  for (const char * const *arg = spec->command; arg && *arg; arg++)
    json_builder_add_string_value (b, *arg);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "WorkingDir");
  json_builder_add_string_value (b, spec->working_dir);
  json_builder_set_member_name (b, "Tty");
  json_builder_add_boolean_value (b, TRUE);
  json_builder_set_member_name (b, "Labels");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "io.mock-runner.role");
  json_builder_add_string_value (b, "toolbox");
  json_builder_end_object (b);
  if (spec->publish)
    {
      json_builder_set_member_name (b, "ExposedPorts");
      json_builder_begin_object (b);
      json_builder_set_member_name (b, port_key);
      json_builder_begin_object (b);
      json_builder_end_object (b);
      json_builder_end_object (b);
    }

  json_builder_set_member_name (b, "HostConfig");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "RestartPolicy");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "Name");
  json_builder_add_string_value (b, "unless-stopped");
  json_builder_end_object (b);
  if (spec->network && *spec->network)
    {
      json_builder_set_member_name (b, "NetworkMode");
      json_builder_add_string_value (b, spec->network);
    }
  if (spec->ulimits && *spec->ulimits)
    {
      json_builder_set_member_name (b, "Ulimits");
      json_builder_begin_array (b);
      if (!mr_docker_spec_parse_ulimits (spec->ulimits, b, error))
        return NULL;
      json_builder_end_array (b);
    }
  if (spec->publish)
    {
      json_builder_set_member_name (b, "PortBindings");
      json_builder_begin_object (b);
      json_builder_set_member_name (b, port_key);
      json_builder_begin_array (b);
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "HostIp");
      json_builder_add_string_value (b, "127.0.0.1");
      json_builder_set_member_name (b, "HostPort");
      json_builder_add_string_value (b, "");      /* an ephemeral port */
      json_builder_end_object (b);
      json_builder_end_array (b);
      json_builder_end_object (b);
    }
  json_builder_end_object (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/**
 * mr_docker_spec_exec_body: (skip)
 * @argv: the command
 *
 * The body of POST /containers/{id}/exec for a command that runs detached.
 *
 * Returns: (transfer full): the body
 */
JsonNode *
mr_docker_spec_exec_body (const char * const *argv)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "AttachStdin");
  json_builder_add_boolean_value (b, FALSE);
  json_builder_set_member_name (b, "AttachStdout");
  json_builder_add_boolean_value (b, FALSE);
  json_builder_set_member_name (b, "AttachStderr");
  json_builder_add_boolean_value (b, FALSE);
  json_builder_set_member_name (b, "Tty");
  json_builder_add_boolean_value (b, FALSE);
  json_builder_set_member_name (b, "Cmd");
  json_builder_begin_array (b);
  for (const char * const *arg = argv; *arg; arg++)
    json_builder_add_string_value (b, *arg);
  json_builder_end_array (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static const char *
string_at (JsonObject *o, const char *name)
{
  JsonNode *n = o ? json_object_get_member (o, name) : NULL;

  return n && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING ? json_node_get_string (n)
                                                                                          : NULL;
}

static JsonObject *
object_at (JsonObject *o, const char *name)
{
  JsonNode *n = o ? json_object_get_member (o, name) : NULL;

  return n && JSON_NODE_HOLDS_OBJECT (n) ? json_node_get_object (n) : NULL;
}

/**
 * mr_docker_spec_parse_inspect: (skip)
 * @inspect: (nullable): GET /containers/{id}/json, or %NULL for a missing container
 * @state: (out caller-allocates): what matters of it
 */
void
mr_docker_spec_parse_inspect (JsonNode *inspect, MrDockerContainerState *state)
{
  JsonObject *root = inspect && JSON_NODE_HOLDS_OBJECT (inspect) ? json_node_get_object (inspect) : NULL;
  JsonObject *st = object_at (root, "State");
  JsonObject *net = object_at (root, "NetworkSettings");
  JsonObject *networks = object_at (net, "Networks");
  JsonObject *ports = object_at (net, "Ports");
  g_autofree char *port_key = g_strdup_printf ("%d/tcp", MR_DOCKER_DAEMON_PORT);
  JsonNode *bindings;
  const char *ip;

  memset (state, 0, sizeof *state);
  if (root == NULL)
    return;
  state->exists = TRUE;
  state->id = g_strdup (string_at (root, "Id"));
  state->running = st && json_object_get_boolean_member_with_default (st, "Running", FALSE);
  state->status = g_strdup (string_at (st, "Status"));
  if (string_at (st, "Error") && *string_at (st, "Error"))
    state->error = g_strdup (string_at (st, "Error"));

  ip = string_at (net, "IPAddress");
  if ((ip == NULL || *ip == '\0') && networks)
    {
      g_autoptr(GList) names = json_object_get_members (networks);
      names = g_list_sort (names, (GCompareFunc) strcmp);     /* a stable choice */
      for (GList *l = names; l; l = l->next)
        {
          const char *candidate = string_at (object_at (networks, l->data), "IPAddress");
          if (candidate && *candidate)
            {
              ip = candidate;
              break;
            }
        }
    }
  if (ip && *ip)
    state->ip = g_strdup (ip);

  bindings = ports ? json_object_get_member (ports, port_key) : NULL;
  if (bindings && JSON_NODE_HOLDS_ARRAY (bindings))
    {
      JsonArray *a = json_node_get_array (bindings);
      for (guint i = 0; i < json_array_get_length (a); i++)
        {
          JsonNode *e = json_array_get_element (a, i);
          const char *port = JSON_NODE_HOLDS_OBJECT (e) ? string_at (json_node_get_object (e), "HostPort") : NULL;
          guint64 n;
          if (port && g_ascii_string_to_unsigned (port, 10, 1, 65535, &n, NULL))
            {
              state->published_port = (guint16) n;
              break;
            }
        }
    }
}

void
mr_docker_container_state_clear (MrDockerContainerState *state)
{
  g_clear_pointer (&state->status, g_free);
  g_clear_pointer (&state->error, g_free);
  g_clear_pointer (&state->id, g_free);
  g_clear_pointer (&state->ip, g_free);
}

/**
 * mr_docker_spec_pull_error: (skip)
 * @stream: the body of POST /images/create: one JSON object per line
 * @len: its length
 *
 * Returns: (transfer full) (nullable): the error the pull reported, if any
 */
char *
mr_docker_spec_pull_error (const char *stream, gsize len)
{
  g_autofree char *text = g_strndup (stream, len);
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);

  for (char **line = lines; *line; line++)
    {
      g_autoptr(JsonParser) parser = json_parser_new ();
      JsonNode *root;
      const char *message;

      if (**line == '\0' || !json_parser_load_from_data (parser, *line, -1, NULL))
        continue;
      root = json_parser_get_root (parser);
      if (!JSON_NODE_HOLDS_OBJECT (root))
        continue;
      message = string_at (json_node_get_object (root), "error");
      if (message == NULL)
        message = string_at (object_at (json_node_get_object (root), "errorDetail"), "message");
      if (message)
        return g_strdup (message);
    }
  return NULL;
}

/**
 * mr_docker_spec_escape: (skip)
 * @segment: a name or image reference
 *
 * Returns: (transfer full): @segment escaped for a path or query of the Engine API
 */
char *
mr_docker_spec_escape (const char *segment)
{
  return g_uri_escape_string (segment, ":/@", FALSE);
}
