/* toolbox-docker: the seed's shared toolbox container. One real container
 * (mock-runner-toolbox, from TOOLBOX_IMAGE) serves the toolbox of every sandbox:
 *
 *  - at start, the container is found or created and started, mock-runner-toolboxd is
 *    copied in with the libraries it needs (mr-docker-bundle.c) and started with
 *    `exec`, and the runner waits (bounded) for GET /version to answer. All of it over
 *    the Docker Engine API with libcurl (mr-docker-client.c): no docker CLI;
 *  - every toolbox request of every sandbox is forwarded to that daemon, bodies
 *    streamed and WebSockets passed through (src/mr-forward.c);
 *  - a supervisor thread checks the container and the daemon every
 *    TOOLBOX_HEALTH_INTERVAL_MS (and at once when a forward cannot reach the daemon); a
 *    container that was removed or stopped, or a daemon that died, is brought back.
 *    Meanwhile toolbox requests get 503 with the common error body, and /info says why.
 *
 * Engine calls block, so they run in the supervisor thread, or in the server thread
 * only where blocking is expected (start, reset, stop). One operation sequence runs at
 * a time (the "work" lock); the state the server thread reads is under "lock". */
#include <string.h>

#include "mock-runner.h"
#include "mr-forward.h"
#include "mr-http.h"
#include "mr-docker-client.h"
#include "mr-docker-spec.h"
#include "mr-docker-bundle.h"
#include "mr-tar.h"
#include "mr-util.h"

#define BUNDLE_ROOT "/opt/mock-runner-toolbox"
#define API_TIMEOUT_SEC 30
#define COPY_TIMEOUT_SEC 300
#define PULL_TIMEOUT_SEC 1800
#define PROBE_TIMEOUT_MS 1000

typedef enum {
  PHASE_STARTING,
  PHASE_READY,
  PHASE_DOWN,
} Phase;

#define MR_TYPE_TOOLBOX_DOCKER (mr_toolbox_docker_get_type ())
G_DECLARE_FINAL_TYPE (MrToolboxDocker, mr_toolbox_docker, MR, TOOLBOX_DOCKER, GObject)

struct _MrToolboxDocker {
  GObject parent_instance;
  MrRunner *runner;

  /* settings, fixed after setup */
  char *name;
  char *image;
  char **command;
  char *ulimits;
  char *network;
  gboolean publish;
  guint start_timeout_sec;
  guint health_interval_ms;
  char *on_exit;
  char *daemon_path;
  MrDockerClient *client;
  MrDockerBundle *bundle;

  /* server thread only */
  MrForwarder *forwarder;
  guint forwarder_generation;

  /* shared with the supervisor, under lock */
  GMutex lock;
  GCond cond;
  Phase phase;
  char *base_url;
  char *ip;
  char *container_id;
  char *reason;
  char *version;
  gboolean kick;
  gboolean quit;
  guint generation;          /* bumped each time the toolbox is (re)made ready */
  guint checks;              /* bumped after each supervisor round */
  GThread *supervisor;

  GMutex work;
  gboolean touched;          /* the container was found or created: TOOLBOX_ON_EXIT applies */
};

static void plugin_iface_init (MrPluginInterface *iface);
static void toolbox_iface_init (MrToolboxBackendInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (MrToolboxDocker, mr_toolbox_docker, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (MR_TYPE_PLUGIN, plugin_iface_init)
                               G_IMPLEMENT_INTERFACE (MR_TYPE_TOOLBOX_BACKEND, toolbox_iface_init))

/* State ---------------------------------------------------------------------------------- */

static void
set_ready (MrToolboxDocker *self, const char *base_url, const char *ip, const char *id, const char *version)
{
  g_mutex_lock (&self->lock);
  self->phase = PHASE_READY;
  g_free (self->base_url);
  self->base_url = g_strdup (base_url);
  g_free (self->ip);
  self->ip = g_strdup (ip);
  g_free (self->container_id);
  self->container_id = g_strdup (id);
  g_free (self->version);
  self->version = g_strdup (version);
  g_clear_pointer (&self->reason, g_free);
  self->generation++;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}

static void
set_down (MrToolboxDocker *self, const char *reason)
{
  g_mutex_lock (&self->lock);
  self->phase = PHASE_DOWN;
  g_free (self->reason);
  self->reason = g_strdup (reason);
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}

static gboolean
quitting (MrToolboxDocker *self)
{
  gboolean quit;

  g_mutex_lock (&self->lock);
  quit = self->quit;
  g_mutex_unlock (&self->lock);
  return quit;
}

static void
kick_supervisor (MrToolboxDocker *self)
{
  g_mutex_lock (&self->lock);
  self->kick = TRUE;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}

/* Engine operations ----------------------------------------------------------------------- */

static const guint OK_200[] = { 200, 0 };
static const guint OK_201[] = { 201, 0 };
static const guint OK_START[] = { 204, 304, 0 };
static const guint OK_EXEC_START[] = { 200, 204, 0 };

static gboolean
ping (MrToolboxDocker *self, GError **error)
{
  guint status = 0;
  g_autoptr(GBytes) body = NULL;

  if (!mr_docker_client_call (self->client, "GET", "/_ping", NULL, NULL, 10, &status, &body, error))
    return FALSE;
  if (status != 200)
    {
      g_autofree char *message = mr_docker_error_message (body);
      g_set_error (error, MR_ERROR, MR_ERROR_UNAVAILABLE, "the Docker engine at %s answers %u to /_ping: %s",
                   mr_docker_client_get_host (self->client), status, message);
      return FALSE;
    }
  return TRUE;
}

/* The container by name; a missing one gives state->exists == FALSE. */
static gboolean
inspect (MrToolboxDocker *self, MrDockerContainerState *state, GError **error)
{
  static const guint ok[] = { 200, 404, 0 };
  g_autofree char *path = g_strdup_printf ("/containers/%s/json", self->name);
  guint status = 0;
  g_autoptr(JsonNode) node = mr_docker_client_call_json (self->client, "GET", path, NULL, API_TIMEOUT_SEC, ok,
                                                         &status, error);

  if (node == NULL)
    return FALSE;
  mr_docker_spec_parse_inspect (status == 200 ? node : NULL, state);
  return TRUE;
}

static gboolean
ensure_image (MrToolboxDocker *self, GError **error)
{
  static const guint ok[] = { 200, 404, 0 };
  g_autofree char *ref = mr_docker_spec_escape (self->image);
  g_autofree char *path = g_strdup_printf ("/images/%s/json", ref);
  g_autofree char *pull = g_strdup_printf ("/images/create?fromImage=%s", ref);
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autofree char *pull_error = NULL;
  guint status = 0;

  node = mr_docker_client_call_json (self->client, "GET", path, NULL, API_TIMEOUT_SEC, ok, &status, error);
  if (node == NULL)
    return FALSE;
  if (status == 200)
    return TRUE;
  g_info ("toolbox-docker: pulling %s", self->image);
  if (!mr_docker_client_call (self->client, "POST", pull, NULL, NULL, PULL_TIMEOUT_SEC, &status, &body, error))
    return FALSE;
  pull_error = status == 200 ? mr_docker_spec_pull_error (g_bytes_get_data (body, NULL), g_bytes_get_size (body))
                             : mr_docker_error_message (body);
  if (pull_error)
    {
      g_set_error (error, MR_ERROR, MR_ERROR_CONFIG,
                   "the toolbox image %s is not on the Docker engine and cannot be pulled: %s", self->image, pull_error);
      return FALSE;
    }
  return TRUE;
}

static gboolean
create_container (MrToolboxDocker *self, GError **error)
{
  MrDockerContainerSpec spec = {
    .image = self->image,
    .command = (const char * const *) self->command,
    .working_dir = "/home/daytona",
    .network = self->network,
    .ulimits = self->ulimits,
    .publish = self->publish,
  };
  static const guint ok[] = { 201, 409, 0 };
  g_autoptr(JsonNode) body = mr_docker_spec_create_body (&spec, error);
  g_autofree char *path = g_strdup_printf ("/containers/create?name=%s", self->name);
  g_autoptr(JsonNode) reply = NULL;
  guint status = 0;

  if (body == NULL)
    return FALSE;
  reply = mr_docker_client_call_json (self->client, "POST", path, body, API_TIMEOUT_SEC, ok, &status, error);
  if (reply == NULL)
    {
      g_prefix_error (error, "cannot create the toolbox container %s: ", self->name);
      return FALSE;
    }
  /* 409: someone else created it meanwhile, which is as good */
  return TRUE;
}

static gboolean
start_container (MrToolboxDocker *self, MrDockerContainerState *state, GError **error)
{
  g_autofree char *path = g_strdup_printf ("/containers/%s/start", self->name);
  g_autoptr(JsonNode) reply = mr_docker_client_call_json (self->client, "POST", path, NULL, API_TIMEOUT_SEC, OK_START,
                                                          NULL, error);

  if (reply == NULL)
    {
      g_prefix_error (error, "cannot start the toolbox container %s: ", self->name);
      return FALSE;
    }
  /* as the seed: up to 30 x 100 ms for the engine to report it running */
  for (int i = 0; i < 30; i++)
    {
      mr_docker_container_state_clear (state);
      if (!inspect (self, state, error))
        return FALSE;
      if (state->running)
        return TRUE;
      g_usleep (100 * 1000);
    }
  g_set_error (error, MR_ERROR, MR_ERROR_UNAVAILABLE, "toolbox container failed to start (%s%s%s)",
               state->status ? state->status : "no state", state->error ? ": " : "", state->error ? state->error : "");
  return FALSE;
}

/* The address the daemon answers at, from the runner's side. */
static char *
daemon_url (MrToolboxDocker *self, MrDockerContainerState *state, GError **error)
{
  if (self->publish)
    {
      if (state->published_port == 0)
        {
          g_set_error (error, MR_ERROR, MR_ERROR_UNAVAILABLE, "the toolbox container %s publishes no port for %d/tcp",
                       self->name, MR_DOCKER_DAEMON_PORT);
          return NULL;
        }
      return g_strdup_printf ("http://127.0.0.1:%u", state->published_port);
    }
  if (state->ip == NULL)
    {
      g_set_error (error, MR_ERROR, MR_ERROR_UNAVAILABLE,
                   "the toolbox container %s has no IP address (no bridge network?); set TOOLBOX_PUBLISH=true to "
                   "reach it through a port published on 127.0.0.1", self->name);
      return NULL;
    }
  return strchr (state->ip, ':') ? g_strdup_printf ("http://[%s]:%d", state->ip, MR_DOCKER_DAEMON_PORT)
                                 : g_strdup_printf ("http://%s:%d", state->ip, MR_DOCKER_DAEMON_PORT);
}

static gboolean
copy_bundle (MrToolboxDocker *self, GError **error)
{
  g_autofree char *path = g_strdup_printf ("/containers/%s/archive?path=/", self->name);
  g_autoptr(GBytes) reply = NULL;
  guint status = 0;

  if (!mr_docker_client_call (self->client, "PUT", path, "application/x-tar", self->bundle->archive, COPY_TIMEOUT_SEC,
                              &status, &reply, error))
    return FALSE;
  if (status != 200)
    {
      g_autofree char *message = mr_docker_error_message (reply);
      g_set_error (error, MR_ERROR, MR_ERROR_FAILED, "cannot copy mock-runner-toolboxd into the toolbox container: %u: %s",
                   status, message);
      return FALSE;
    }
  return TRUE;
}

/* Starts (or restarts) the daemon with `exec`, detached; returns the exec id. */
static char *
exec_daemon (MrToolboxDocker *self, GError **error)
{
  const char *argv[] = { "/bin/sh", self->bundle->start_script, NULL };
  g_autoptr(JsonNode) body = mr_docker_spec_exec_body (argv);
  g_autofree char *path = g_strdup_printf ("/containers/%s/exec", self->name);
  g_autoptr(JsonNode) reply = mr_docker_client_call_json (self->client, "POST", path, body, API_TIMEOUT_SEC, OK_201,
                                                          NULL, error);
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonNode) start = NULL;
  g_autoptr(JsonNode) started = NULL;
  g_autofree char *start_path = NULL;
  const char *id;

  if (reply == NULL || !JSON_NODE_HOLDS_OBJECT (reply) ||
      (id = json_object_get_string_member_with_default (json_node_get_object (reply), "Id", NULL)) == NULL)
    {
      if (error && *error == NULL)
        g_set_error (error, MR_ERROR, MR_ERROR_FAILED, "the engine returned no exec id");
      g_prefix_error (error, "cannot start mock-runner-toolboxd in the toolbox container: ");
      return NULL;
    }
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "Detach");
  json_builder_add_boolean_value (b, TRUE);
  json_builder_set_member_name (b, "Tty");
  json_builder_add_boolean_value (b, FALSE);
  json_builder_end_object (b);
  start = json_builder_get_root (b);
  start_path = g_strdup_printf ("/exec/%s/start", id);
  started = mr_docker_client_call_json (self->client, "POST", start_path, start, API_TIMEOUT_SEC, OK_EXEC_START,
                                        NULL, error);
  if (started == NULL)
    {
      g_prefix_error (error, "cannot start mock-runner-toolboxd in the toolbox container: ");
      return NULL;
    }
  return g_strdup (id);
}

/* Whether the exec'd daemon has exited, and with what code. */
static gboolean
exec_exited (MrToolboxDocker *self, const char *exec_id, gint64 *code)
{
  g_autofree char *path = g_strdup_printf ("/exec/%s/json", exec_id);
  g_autoptr(JsonNode) node = mr_docker_client_call_json (self->client, "GET", path, NULL, API_TIMEOUT_SEC, OK_200,
                                                         NULL, NULL);
  JsonObject *o;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    return FALSE;
  o = json_node_get_object (node);
  if (json_object_get_boolean_member_with_default (o, "Running", TRUE))
    return FALSE;
  *code = json_object_get_int_member_with_default (o, "ExitCode", -1);
  return TRUE;
}

/* GET <url>/version; returns the version, or NULL with @error. */
static char *
probe_version (const char *base_url, guint timeout_ms, GError **error)
{
  g_autofree char *url = g_strconcat (base_url, "/version", NULL);
  g_autoptr(GBytes) body = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  guint status = 0;
  JsonNode *root;
  const char *version;

  if (!mr_docker_http_get (url, timeout_ms, &status, &body, error))
    return NULL;
  if (status == 200 && json_parser_load_from_data (parser, g_bytes_get_data (body, NULL), g_bytes_get_size (body), NULL) &&
      (root = json_parser_get_root (parser)) && JSON_NODE_HOLDS_OBJECT (root) &&
      (version = json_object_get_string_member_with_default (json_node_get_object (root), "version", NULL)))
    return g_strdup (version);
  g_set_error (error, MR_ERROR, MR_ERROR_BAD_GATEWAY, "GET %s answered %u without a version", url, status);
  return NULL;
}

/* The end of the daemon's log in the container, for error messages. */
static char *
daemon_log_tail (MrToolboxDocker *self)
{
  g_autofree char *path = g_strdup_printf ("/containers/%s/archive?path=%s", self->name, self->bundle->log_file);
  g_autoptr(GBytes) archive = NULL;
  g_autoptr(GBytes) log = NULL;
  guint status = 0;
  gsize len;
  const char *text;

  if (!mr_docker_client_call (self->client, "GET", path, NULL, NULL, API_TIMEOUT_SEC, &status, &archive, NULL) ||
      status != 200 || !(log = mr_tar_read_first_file (archive, NULL, NULL)))
    return NULL;
  text = g_bytes_get_data (log, &len);
  if (len == 0)
    return NULL;
  if (len > 600)
    {
      text += len - 600;
      len = 600;
    }
  return g_strchomp (g_strndup (text, len));
}

static char *
wait_daemon (MrToolboxDocker *self, const char *base_url, const char *exec_id, gint64 deadline, GError **error)
{
  g_autoptr(GError) last = NULL;
  gint64 next_exec_check = 0;

  while (TRUE)
    {
      char *version;
      gint64 code;

      g_clear_error (&last);
      version = probe_version (base_url, PROBE_TIMEOUT_MS, &last);
      if (version)
        return version;
      if (quitting (self))
        {
          g_set_error (error, MR_ERROR, MR_ERROR_UNAVAILABLE, "the runner is stopping");
          return NULL;
        }
      /* Docker reports an exec that ended (podman 4 keeps saying it runs) */
      if (g_get_monotonic_time () >= next_exec_check)
        {
          next_exec_check = g_get_monotonic_time () + 500 * 1000;
          if (exec_exited (self, exec_id, &code))
            {
              g_autofree char *tail = daemon_log_tail (self);
              g_set_error (error, MR_ERROR, MR_ERROR_UNAVAILABLE,
                           "mock-runner-toolboxd exited with code %" G_GINT64_FORMAT " in the toolbox container %s; "
                           "%s ends with: %s", code, self->name, self->bundle->log_file, tail ? tail : "(nothing)");
              return NULL;
            }
        }
      if (g_get_monotonic_time () >= deadline)
        {
          g_autofree char *tail = daemon_log_tail (self);
          g_set_error (error, MR_ERROR, MR_ERROR_TIMEOUT,
                       "the toolbox daemon did not answer at %s within %u s: %s; %s in the container ends with: %s",
                       base_url, self->start_timeout_sec, last->message, self->bundle->log_file,
                       tail ? tail : "(nothing)");
          return NULL;
        }
      g_usleep (100 * 1000);
    }
}

/* Everything from "is there an engine" to "the daemon answers"; holds no lock but must
 * run under self->work. */
static gboolean
bring_up (MrToolboxDocker *self, GError **error)
{
  gint64 t0 = g_get_monotonic_time ();
  gint64 deadline = t0 + (gint64) self->start_timeout_sec * G_USEC_PER_SEC;
  gint64 t_engine, t_container, t_copy;
  MrDockerContainerState state = { 0 };
  g_autofree char *url = NULL;
  g_autofree char *exec_id = NULL;
  g_autofree char *version = NULL;
  gboolean created = FALSE;
  gboolean ok = FALSE;

  if (!ping (self, error))
    return FALSE;
  t_engine = g_get_monotonic_time ();
  if (!inspect (self, &state, error))
    goto out;
  if (!state.exists)
    {
      if (!ensure_image (self, error) || !create_container (self, error))
        goto out;
      created = TRUE;
      self->touched = TRUE;
      mr_docker_container_state_clear (&state);
      if (!inspect (self, &state, error))
        goto out;
      if (!state.exists)
        {
          g_set_error (error, MR_ERROR, MR_ERROR_FAILED, "the toolbox container %s vanished after its creation", self->name);
          goto out;
        }
    }
  /* a container on its way down (docker stop) cannot be started until it is down */
  for (int i = 0; i < 100 && !state.running && g_strcmp0 (state.status, "exited") != 0 &&
                  g_strcmp0 (state.status, "created") != 0 && g_strcmp0 (state.status, "stopped") != 0 &&
                  g_strcmp0 (state.status, "configured") != 0 && state.exists; i++)
    {
      g_usleep (100 * 1000);
      mr_docker_container_state_clear (&state);
      if (!inspect (self, &state, error))
        goto out;
    }
  if (!state.exists)
    {
      g_set_error (error, MR_ERROR, MR_ERROR_UNAVAILABLE, "the toolbox container %s was removed meanwhile", self->name);
      goto out;
    }
  self->touched = TRUE;
  if (!state.running && !start_container (self, &state, error))
    goto out;
  if (!(url = daemon_url (self, &state, error)))
    goto out;
  t_container = g_get_monotonic_time ();
  if (!copy_bundle (self, error))
    goto out;
  t_copy = g_get_monotonic_time ();
  if (!(exec_id = exec_daemon (self, error)) || !(version = wait_daemon (self, url, exec_id, deadline, error)))
    goto out;
  set_ready (self, url, self->publish ? NULL : state.ip, state.id, version);
  g_info ("toolbox-docker: container %s (%s) ready at %s in %.0f ms: engine %.0f ms, container %.0f ms, "
          "copy %.0f ms (%u libraries, %.1f MB), daemon %.0f ms", self->name, created ? "created" : "found", url,
          (g_get_monotonic_time () - t0) / 1000.0, (t_engine - t0) / 1000.0, (t_container - t_engine) / 1000.0,
          (t_copy - t_container) / 1000.0, self->bundle->n_libraries,
          g_bytes_get_size (self->bundle->archive) / 1e6, (g_get_monotonic_time () - t_copy) / 1000.0);
  ok = TRUE;
out:
  mr_docker_container_state_clear (&state);
  return ok;
}

/* One health check: the container exists, runs, has the address we use, and the daemon
 * answers there. */
static gboolean
check_once (MrToolboxDocker *self, char **reason)
{
  MrDockerContainerState state = { 0 };
  g_autoptr(GError) error = NULL;
  g_autofree char *url = NULL;
  g_autofree char *known_url = NULL;
  g_autofree char *known_id = NULL;
  g_autofree char *version = NULL;
  Phase phase;
  gboolean ok = FALSE;

  g_mutex_lock (&self->lock);
  phase = self->phase;
  known_url = g_strdup (self->base_url);
  known_id = g_strdup (self->container_id);
  g_mutex_unlock (&self->lock);

  if (!inspect (self, &state, &error))
    *reason = g_strdup (error->message);
  else if (!state.exists)
    *reason = g_strdup_printf ("the toolbox container %s was removed", self->name);
  else if (!state.running)
    *reason = g_strdup_printf ("the toolbox container %s is %s", self->name, state.status ? state.status : "not running");
  else if (phase != PHASE_READY)
    *reason = g_strdup_printf ("the toolbox container %s is not ready", self->name);
  else if (g_strcmp0 (state.id, known_id) != 0)
    *reason = g_strdup_printf ("the toolbox container %s was replaced", self->name);
  else if (!(url = daemon_url (self, &state, &error)) || g_strcmp0 (url, known_url) != 0)
    *reason = g_strdup_printf ("the toolbox container %s changed address", self->name);
  else if (!(version = probe_version (url, PROBE_TIMEOUT_MS, &error)))
    *reason = g_strdup_printf ("the toolbox daemon does not answer: %s", error->message);
  else
    ok = TRUE;
  mr_docker_container_state_clear (&state);
  return ok;
}

/* Requests in flight to a toolbox that went away --------------------------------------- */

typedef struct {
  MrToolboxDocker *self;
  char *reason;
} Outage;

static gboolean
fail_in_flight (gpointer data)
{
  Outage *o = data;
  g_autoptr(GError) error = NULL;

  if (o->self->forwarder)
    {
      error = g_error_new (MR_ERROR, MR_ERROR_UNAVAILABLE, "the toolbox container %s went away: %s",
                           o->self->name, o->reason);
      mr_forwarder_fail_all (o->self->forwarder, error);
      mr_forwarder_drop_connections (o->self->forwarder);
    }
  return G_SOURCE_REMOVE;
}

static void
outage_free (gpointer data)
{
  Outage *o = data;

  g_object_unref (o->self);
  g_free (o->reason);
  g_free (o);
}

/* From the supervisor: the forwarder belongs to the server thread, so the requests in
 * flight are ended there. A vanished container resets nothing: they would hang. */
static void
end_requests_in_flight (MrToolboxDocker *self, const char *reason)
{
  GMainContext *context = mr_runner_get_main_context (self->runner);
  Outage *o;

  if (context == NULL)
    return;
  o = g_new0 (Outage, 1);
  o->self = g_object_ref (self);
  o->reason = g_strdup (reason);
  mr_idle_run_on (context, fail_in_flight, o, outage_free);
}

static gpointer
supervise (gpointer data)
{
  MrToolboxDocker *self = data;

  g_mutex_lock (&self->lock);
  while (!self->quit)
    {
      gint64 until = g_get_monotonic_time () + (gint64) self->health_interval_ms * 1000;
      g_autofree char *reason = NULL;
      g_autoptr(GError) error = NULL;

      while (!self->quit && !self->kick)
        if (!g_cond_wait_until (&self->cond, &self->lock, until))
          break;
      if (self->quit)
        break;
      self->kick = FALSE;
      g_mutex_unlock (&self->lock);

      g_mutex_lock (&self->work);
      if (!check_once (self, &reason))
        {
          g_message ("toolbox-docker: %s: bringing the toolbox back", reason);
          set_down (self, reason);
          end_requests_in_flight (self, reason);
          if (!bring_up (self, &error))
            {
              g_warning ("toolbox-docker: cannot bring the toolbox back: %s", error->message);
              set_down (self, error->message);
            }
          else
            g_info ("toolbox-docker: the toolbox is back");
        }
      g_mutex_unlock (&self->work);
      g_mutex_lock (&self->lock);
      self->checks++;
      g_cond_broadcast (&self->cond);
    }
  g_mutex_unlock (&self->lock);
  return NULL;
}

/* The toolbox backend ------------------------------------------------------------------- */

static void
on_forward_failed (const GError *error, gpointer data)
{
  /* the daemon did not answer: have the supervisor look now rather than later */
  kick_supervisor (data);
}

static void
docker_handle_headers (MrToolboxBackend *backend, MrToolboxRequest *request)
{
  MrToolboxDocker *self = MR_TOOLBOX_DOCKER (backend);
  SoupServerMessage *msg = mr_toolbox_request_get_message (request);
  g_autofree char *url = NULL;
  g_autofree char *reason = NULL;
  guint generation;

  g_mutex_lock (&self->lock);
  if (self->phase == PHASE_READY)
    url = g_strdup (self->base_url);
  else
    reason = g_strdup (self->reason ? self->reason : "starting");
  generation = self->generation;
  g_mutex_unlock (&self->lock);

  if (url == NULL)
    {
      g_autofree char *message = g_strdup_printf ("service unavailable: the toolbox container %s is not ready: %s",
                                                  self->name, reason);
      soup_message_body_set_accumulate (soup_server_message_get_request_body (msg), FALSE);
      mr_http_reply_error (msg, 503, "SERVICE_UNAVAILABLE", message);
      return;
    }
  if (self->forwarder == NULL)
    {
      self->forwarder = mr_forwarder_new (MR_FORWARD_ERROR_BODY | MR_FORWARD_LOGS_FOLLOW);
      mr_forwarder_set_failed_func (self->forwarder, on_forward_failed, self);
    }
  if (self->forwarder_generation != generation)
    {
      /* a new container, or a new daemon: kept-alive connections lead to the old one */
      mr_forwarder_drop_connections (self->forwarder);
      self->forwarder_generation = generation;
    }
  mr_forwarder_forward (self->forwarder, request, url, mr_toolbox_request_get_path (request));
}

static gboolean
docker_check_health (MrToolboxBackend *backend, char **reason)
{
  MrToolboxDocker *self = MR_TOOLBOX_DOCKER (backend);
  g_autofree char *url = NULL;
  g_autofree char *why = NULL;
  g_autofree char *version = NULL;
  g_autoptr(GError) error = NULL;

  g_mutex_lock (&self->lock);
  if (self->phase == PHASE_READY)
    url = g_strdup (self->base_url);
  else
    why = g_strdup (self->reason ? self->reason : "starting");
  g_mutex_unlock (&self->lock);

  if (url && (version = probe_version (url, PROBE_TIMEOUT_MS, &error)))
    return TRUE;
  if (url)
    {
      why = g_strdup_printf ("the toolbox daemon in %s does not answer: %s", self->name, error->message);
      kick_supervisor (self);
    }
  if (reason)
    *reason = g_steal_pointer (&why);
  return FALSE;
}

static gboolean
docker_ensure_running (MrToolboxBackend *backend, GError **error)
{
  MrToolboxDocker *self = MR_TOOLBOX_DOCKER (backend);
  gint64 deadline = g_get_monotonic_time () + (gint64) self->start_timeout_sec * G_USEC_PER_SEC;
  g_autofree char *url = NULL;
  g_autofree char *version = NULL;
  guint generation, checks;
  gboolean ready = FALSE;

  /* as the seed's "ensure running" on start and create, but it looks: a toolbox that
   * does not answer is brought back (by the supervisor) and waited for, bounded */
  g_mutex_lock (&self->lock);
  if (self->phase == PHASE_READY)
    url = g_strdup (self->base_url);
  g_mutex_unlock (&self->lock);
  if (url && (version = probe_version (url, PROBE_TIMEOUT_MS, NULL)))
    return TRUE;

  g_mutex_lock (&self->lock);
  generation = self->generation;
  checks = self->checks;
  self->kick = TRUE;
  g_cond_broadcast (&self->cond);
  while (!self->quit)
    {
      /* ready again, or found fine by a round that started after our look */
      if (self->phase == PHASE_READY && (self->generation != generation || self->checks > checks + 1))
        {
          ready = TRUE;
          break;
        }
      if (!g_cond_wait_until (&self->cond, &self->lock, deadline))
        break;
    }
  if (!ready)
    g_set_error (error, MR_ERROR, MR_ERROR_UNAVAILABLE, "the toolbox container %s is not ready: %s", self->name,
                 self->reason ? self->reason : "it does not answer");
  g_mutex_unlock (&self->lock);
  return ready;
}

static const char *
docker_get_service_name (MrToolboxBackend *backend)
{
  return "toolbox";
}

static char *
docker_get_daemon_version (MrToolboxBackend *backend)
{
  MrToolboxDocker *self = MR_TOOLBOX_DOCKER (backend);
  char *version;

  g_mutex_lock (&self->lock);
  version = g_strdup (self->version);
  g_mutex_unlock (&self->lock);
  return version;
}

static GIOStream *
docker_connect_port (MrToolboxBackend *backend, guint16 port, GCancellable *cancellable, GError **error)
{
  MrToolboxDocker *self = MR_TOOLBOX_DOCKER (backend);
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autofree char *ip = NULL;

  g_mutex_lock (&self->lock);
  ip = g_strdup (self->phase == PHASE_READY ? self->ip : NULL);
  g_mutex_unlock (&self->lock);
  if (ip == NULL)
    {
      g_set_error (error, MR_ERROR, MR_ERROR_UNAVAILABLE, self->publish
                   ? "with TOOLBOX_PUBLISH only the toolbox daemon's port is reachable"
                   : "the toolbox container is not ready");
      return NULL;
    }
  GSocketConnection *connection;

  g_socket_client_set_enable_proxy (client, FALSE);
  g_socket_client_set_timeout (client, 10);
  connection = g_socket_client_connect_to_host (client, ip, port, cancellable, error);
  /* the connect timeout must not become an idle timeout of the relayed session */
  if (connection)
    g_socket_set_timeout (g_socket_connection_get_socket (connection), 0);
  return G_IO_STREAM (connection);
}

static void
toolbox_iface_init (MrToolboxBackendInterface *iface)
{
  iface->handle_headers = docker_handle_headers;
  iface->check_health = docker_check_health;
  iface->ensure_running = docker_ensure_running;
  iface->get_service_name = docker_get_service_name;
  iface->get_daemon_version = docker_get_daemon_version;
  iface->connect_port = docker_connect_port;
}

/* The plugin ----------------------------------------------------------------------------- */

static gboolean
read_uint (MrRunner *runner, const char *name, guint min, guint max, guint *out, GError **error)
{
  const char *text = mr_runner_get_option (runner, name);
  guint64 n;

  if (text == NULL)
    return TRUE;
  if (!g_ascii_string_to_unsigned (text, 10, min, max, &n, NULL))
    {
      g_set_error (error, MR_ERROR, MR_ERROR_CONFIG, "invalid %s '%s' (expected a number from %u to %u)",
                   name, text, min, max);
      return FALSE;
    }
  *out = (guint) n;
  return TRUE;
}

static gboolean
docker_setup (MrPlugin *plugin, MrRunner *runner, GError **error)
{
  MrToolboxDocker *self = MR_TOOLBOX_DOCKER (plugin);
  const char *image = mr_runner_get_config (runner)->toolbox_image;
  const char *command = mr_runner_get_option (runner, "TOOLBOX_COMMAND");
  const char *on_exit = mr_runner_get_option (runner, "TOOLBOX_ON_EXIT");
  g_autoptr(GError) local = NULL;

  self->runner = runner;
  self->name = g_strdup (mr_runner_get_option (runner, "TOOLBOX_CONTAINER_NAME"));
  self->image = g_strdup (image && *image ? image : "ubuntu:22.04");
  self->ulimits = g_strdup (mr_runner_get_option (runner, "TOOLBOX_ULIMITS"));
  self->network = g_strdup (mr_runner_get_option (runner, "TOOLBOX_NETWORK"));
  self->publish = mr_runner_get_option_bool (runner, "TOOLBOX_PUBLISH", FALSE);
  self->on_exit = g_strdup (on_exit);
  if (!read_uint (runner, "TOOLBOX_START_TIMEOUT_SEC", 1, 3600, &self->start_timeout_sec, error) ||
      !read_uint (runner, "TOOLBOX_HEALTH_INTERVAL_MS", 50, 3600000, &self->health_interval_ms, error))
    return FALSE;
  if (self->name == NULL || !g_regex_match_simple ("^[a-zA-Z0-9][a-zA-Z0-9_.-]*$", self->name, 0, 0))
    {
      g_set_error (error, MR_ERROR, MR_ERROR_CONFIG, "invalid TOOLBOX_CONTAINER_NAME '%s'", self->name ? self->name : "");
      return FALSE;
    }
  if (g_strcmp0 (on_exit, "stop") != 0 && g_strcmp0 (on_exit, "remove") != 0 && g_strcmp0 (on_exit, "keep") != 0)
    {
      g_set_error (error, MR_ERROR, MR_ERROR_CONFIG, "invalid TOOLBOX_ON_EXIT '%s' (stop, remove or keep)", on_exit);
      return FALSE;
    }
  if (!g_shell_parse_argv (command, NULL, &self->command, &local))
    {
      g_set_error (error, MR_ERROR, MR_ERROR_CONFIG, "invalid TOOLBOX_COMMAND '%s': %s", command, local->message);
      return FALSE;
    }
  if (self->ulimits && !mr_docker_spec_parse_ulimits (self->ulimits, NULL, error))
    return FALSE;
  self->client = mr_docker_client_new (mr_runner_get_option (runner, "DOCKER_HOST"),
                                       mr_runner_get_option (runner, "DOCKER_API_VERSION"), error);
  if (self->client == NULL)
    return FALSE;
  self->daemon_path = mr_docker_bundle_find_daemon (mr_runner_get_option (runner, "TOOLBOX_DAEMON_PATH"));
  if (self->daemon_path == NULL)
    {
      g_set_error (error, MR_ERROR, MR_ERROR_CONFIG,
                   "cannot find mock-runner-toolboxd (next to this program, on PATH or in %s); set TOOLBOX_DAEMON_PATH",
                   MR_BINDIR);
      return FALSE;
    }
  return TRUE;
}

static gboolean
docker_start (MrPlugin *plugin, GError **error)
{
  MrToolboxDocker *self = MR_TOOLBOX_DOCKER (plugin);
  gint64 t0 = g_get_monotonic_time ();
  gboolean ok;

  self->bundle = mr_docker_bundle_new (self->daemon_path, BUNDLE_ROOT, error);
  if (self->bundle == NULL)
    return FALSE;
  g_info ("toolbox-docker: %s packed with %u libraries in %.0f ms", self->daemon_path, self->bundle->n_libraries,
          (g_get_monotonic_time () - t0) / 1000.0);
  g_mutex_lock (&self->work);
  ok = bring_up (self, error);
  g_mutex_unlock (&self->work);
  if (!ok)
    return FALSE;
  self->supervisor = g_thread_new ("toolbox-docker", supervise, self);
  return TRUE;
}

static void
stop_supervisor (MrToolboxDocker *self)
{
  if (self->supervisor == NULL)
    return;
  g_mutex_lock (&self->lock);
  self->quit = TRUE;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  g_thread_join (g_steal_pointer (&self->supervisor));
}

static void
docker_stop (MrPlugin *plugin)
{
  MrToolboxDocker *self = MR_TOOLBOX_DOCKER (plugin);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) reply = NULL;
  g_autofree char *path = NULL;
  guint status = 0;

  stop_supervisor (self);
  g_clear_pointer (&self->forwarder, mr_forwarder_free);
  if (!self->touched || g_strcmp0 (self->on_exit, "keep") == 0)
    return;
  /* stopped, not removed, as the seed does: the next start finds it again */
  if (g_strcmp0 (self->on_exit, "remove") == 0)
    path = g_strdup_printf ("/containers/%s?force=true", self->name);
  else
    path = g_strdup_printf ("/containers/%s/stop?t=1", self->name);
  if (!mr_docker_client_call (self->client, g_strcmp0 (self->on_exit, "remove") == 0 ? "DELETE" : "POST", path,
                              NULL, NULL, API_TIMEOUT_SEC, &status, &reply, &error))
    g_warning ("toolbox-docker: cannot %s the toolbox container %s: %s", self->on_exit, self->name, error->message);
  set_down (self, "the runner stopped");
}

static void
docker_reset (MrPlugin *plugin)
{
  MrToolboxDocker *self = MR_TOOLBOX_DOCKER (plugin);
  g_autoptr(GError) error = NULL;
  g_autofree char *exec_id = NULL;
  g_autofree char *url = NULL;
  g_autofree char *version = NULL;

  if (self->forwarder)
    mr_forwarder_cancel_all (self->forwarder);
  if (self->bundle == NULL)
    return;
  /* Restarting the daemon ends every session, PTY and process it started, as a reset
   * of the in-process toolbox does; files in the container stay, as they would. */
  g_mutex_lock (&self->work);
  g_mutex_lock (&self->lock);
  url = self->phase == PHASE_READY ? g_strdup (self->base_url) : NULL;
  g_mutex_unlock (&self->lock);
  if (url)
    {
      gint64 deadline = g_get_monotonic_time () + (gint64) self->start_timeout_sec * G_USEC_PER_SEC;
      if ((exec_id = exec_daemon (self, &error)) && (version = wait_daemon (self, url, exec_id, deadline, &error)))
        g_info ("toolbox-docker: daemon restarted for reset");
      else
        {
          g_warning ("toolbox-docker: cannot restart the toolbox daemon: %s", error->message);
          set_down (self, error->message);
          kick_supervisor (self);
        }
    }
  g_mutex_unlock (&self->work);
}

static void
plugin_iface_init (MrPluginInterface *iface)
{
  iface->setup = docker_setup;
  iface->start = docker_start;
  iface->stop = docker_stop;
  iface->reset = docker_reset;
}

static void
mr_toolbox_docker_init (MrToolboxDocker *self)
{
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  g_mutex_init (&self->work);
  self->phase = PHASE_STARTING;
  self->start_timeout_sec = 60;
  self->health_interval_ms = 1000;
}

static void
mr_toolbox_docker_finalize (GObject *object)
{
  MrToolboxDocker *self = MR_TOOLBOX_DOCKER (object);

  stop_supervisor (self);
  g_clear_pointer (&self->forwarder, mr_forwarder_free);
  g_clear_pointer (&self->client, mr_docker_client_free);
  g_clear_pointer (&self->bundle, mr_docker_bundle_free);
  g_free (self->name);
  g_free (self->image);
  g_strfreev (self->command);
  g_free (self->ulimits);
  g_free (self->network);
  g_free (self->on_exit);
  g_free (self->daemon_path);
  g_free (self->base_url);
  g_free (self->ip);
  g_free (self->container_id);
  g_free (self->reason);
  g_free (self->version);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  g_mutex_clear (&self->work);
  G_OBJECT_CLASS (mr_toolbox_docker_parent_class)->finalize (object);
}

static void
mr_toolbox_docker_class_init (MrToolboxDockerClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = mr_toolbox_docker_finalize;
}

static const MrPluginOption options[] = {
  { "DOCKER_HOST", MR_DOCKER_DEFAULT_HOST, "The Docker Engine API: unix:///path or tcp://host:port (podman's service works)" },
  { "DOCKER_API_VERSION", "1.41", "Engine API version to ask for (empty: the engine's own)" },
  { "TOOLBOX_CONTAINER_NAME", "mock-runner-toolbox", "Name of the shared toolbox container (the image is TOOLBOX_IMAGE)" },
  { "TOOLBOX_COMMAND", "sleep infinity", "What the container runs (keeps it alive; the daemon is started with exec)" },
  { "TOOLBOX_ULIMITS", NULL, "Ulimits of the container, as docker run --ulimit: nofile=1024:1024,nproc=1024:1024" },
  { "TOOLBOX_NETWORK", NULL, "Network of the container [the engine's default bridge]" },
  { "TOOLBOX_PUBLISH", "false", "Reach the daemon through its port published on 127.0.0.1 instead of the container's IP" },
  { "TOOLBOX_DAEMON_PATH", NULL, "mock-runner-toolboxd to copy in [next to mock-runner, on PATH, or installed]" },
  { "TOOLBOX_START_TIMEOUT_SEC", "60", "Bound on bringing the toolbox up (container, copy, daemon answering /version)" },
  { "TOOLBOX_HEALTH_INTERVAL_MS", "1000", "How often the container and the daemon are checked" },
  { "TOOLBOX_ON_EXIT", "stop", "What happens to the container when the runner stops: stop, remove or keep" },
  { NULL, NULL, NULL }
};

MR_PLUGIN_DEFINE ("toolbox-docker", MR_PLUGIN_KIND_TOOLBOX,
                  "The seed's shared toolbox container: mock-runner-toolboxd in one real container (Docker Engine API)",
                  mr_toolbox_docker_get_type, options);
