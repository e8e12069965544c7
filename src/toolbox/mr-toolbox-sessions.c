/* mr-toolbox-sessions.c: the /process/session routes (toolbox-api.md sections 2.5,
 * 3.4, 3.6, 3.7), over the session engine of mr-session.c.
 *
 * Replies depend on the client's SDK version (mr-sdk-version.h): markers stripped for
 * old SDKs and header-less clients (combinedOutput); plain-text logs below 0.167.0,
 * JSON {output,stdout,stderr} from 0.167.0 (and server-side stdout/stderr in sync exec
 * replies). Log follow is served over WebSocket (binary frames of at most 1 KiB, close
 * 1000 after the final data) and, when the runner serves the toolbox in-process, over
 * plain HTTP as the runner's follow conversion does (runner-api.md section 7.3).
 *
 * The [latest] entrypoint routes answer 404 "session not found": this toolbox starts
 * no sandbox entrypoint. Session files live in a private directory per toolbox (see
 * mr_session_store_new()), never in a path two toolboxes could share. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "mr-toolbox-private.h"
#include "mr-toolbox-json-bind.h"
#include "mr-held-message.h"
#include "mr-log-framing.h"
#include "mr-sdk-version.h"
#include "mr-session.h"
#include "mr-util.h"

#define AREA "sessions"
#define WS_FRAME_MAX 1024
#define HTTP_CHUNK_MAX 16384
#define PUMP_BUDGET 64              /* reads per main-loop turn for one follower */

typedef struct {
  MrSessionStore *store;
} SessionsArea;

static void
area_free (SessionsArea *area)
{
  /* kills every session now; waiters, followers and DELETEs are told and end */
  mr_session_store_free (area->store);
  g_free (area);
}

static MrSessionStore *
get_store (MrTbCall *call, gboolean create)
{
  SessionsArea *area = mr_tb_area_get (call->toolbox, AREA);
  g_autoptr(GError) error = NULL;

  if (area == NULL && create)
    {
      MrSessionStore *store = mr_session_store_new (&error);
      if (store == NULL)
        {
          mr_tb_reply_error_printf (call, 500, "cannot create the session directory: %s", error->message);
          return NULL;
        }
      area = g_new0 (SessionsArea, 1);
      area->store = store;
      mr_tb_area_set (call->toolbox, AREA, area, (GDestroyNotify) area_free);
    }
  return area ? area->store : NULL;
}

/* The session of the {sessionId} parameter, or NULL after answering 404. */
static MrSession *
lookup_session (MrTbCall *call)
{
  MrSessionStore *store = get_store (call, FALSE);
  MrSession *session = store ? mr_session_store_lookup (store, mr_tb_param (call, "sessionId")) : NULL;

  if (session == NULL)
    mr_tb_reply_error (call, 404, "session not found");
  return session;
}

static MrSessionCommand *
lookup_command (MrTbCall *call, MrSession **session_out)
{
  MrSession *session = lookup_session (call);
  MrSessionCommand *command;

  if (session == NULL)
    return NULL;
  command = mr_session_lookup_command (session, mr_tb_param (call, "commandId"));
  if (command == NULL)
    mr_tb_reply_error (call, 404, "command not found");
  if (session_out)
    *session_out = session;
  return command;
}

/* The version gates of one request */
typedef struct {
  gboolean combined;          /* strip the markers */
  gboolean skip_demux;        /* no server-side stdout/stderr in exec replies */
  gboolean json_logs;         /* plain logs as JSON {output, stdout, stderr} */
} Gates;

static Gates
request_gates (MrTbCall *call)
{
  const char *version = mr_tb_sdk_version (call);
  const char *split = soup_message_headers_get_one (soup_server_message_get_request_headers (call->msg),
                                                    "X-Daytona-Split-Output");
  Gates g = { mr_sdk_gate_combined_output (version, split), mr_sdk_gate_skip_server_demux (version),
              mr_sdk_gate_json_logs (version) };

  return g;
}

static char *
bytes_to_utf8 (const GByteArray *bytes)
{
  return mr_log_to_utf8 (bytes->data, bytes->len);
}

/* JSON models ------------------------------------------------------------------- */

static JsonNode *
take_object (JsonObject *o)
{
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);

  json_node_take_object (node, o);
  return node;
}

static JsonNode *
command_to_json (MrSessionCommand *command)
{
  JsonObject *o = json_object_new ();

  json_object_set_string_member (o, "id", mr_session_command_get_id (command));
  json_object_set_string_member (o, "command", mr_session_command_get_text (command));
  /* omitted while the command runs */
  if (mr_session_command_is_finished (command))
    json_object_set_int_member (o, "exitCode", mr_session_command_get_exit_code (command));
  return take_object (o);
}

static JsonNode *
session_to_json (MrSession *session)
{
  JsonObject *o = json_object_new ();
  JsonArray *commands = json_array_new ();
  GPtrArray *list = mr_session_get_commands (session);

  for (guint i = 0; i < list->len; i++)
    json_array_add_element (commands, command_to_json (list->pdata[i]));
  json_object_set_string_member (o, "sessionId", mr_session_get_id (session));
  json_object_set_array_member (o, "commands", commands);
  return take_object (o);
}

/* POST /process/session ---------------------------------------------------------- */

static void
handle_create (MrTbCall *call)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) body = mr_tb_parse_body_object (call, &error);
  g_autofree char *shell = NULL;
  g_auto(GStrv) envp = NULL;
  MrSessionStore *store;
  const char *id, *cwd;

  if (body == NULL)
    {
      mr_tb_reply_error_printf (call, 400, "invalid request body: %s", error->message);
      return;
    }
  id = mr_tb_json_string (body, "sessionId");
  if (id == NULL || *id == '\0')
    {
      mr_tb_reply_error (call, 400, "invalid request body: Key: 'CreateSessionRequest.SessionId' "
                                    "Error:Field validation for 'SessionId' failed on the 'required' tag");
      return;
    }
  if (strcmp (id, "entrypoint") == 0)
    {
      mr_tb_reply_error (call, 400, "bad request: session ID 'entrypoint' is reserved");
      return;
    }
  if ((store = get_store (call, TRUE)) == NULL)
    return;
  /* SDKs before 0.103.0 expect the session to start in $HOME */
  cwd = mr_sdk_gate_legacy_session_cwd (mr_tb_sdk_version (call)) ? mr_toolbox_get_home_dir (call->toolbox)
                                                                   : mr_toolbox_get_work_dir (call->toolbox);
  shell = mr_tb_get_shell ();
  envp = mr_tb_child_environ (call->toolbox, NULL);
  if (mr_session_store_create (store, id, shell, cwd, (const char * const *) envp, &error) == NULL)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_EXISTS))
        mr_tb_reply_error (call, 409, error->message);
      else
        mr_tb_reply_error_printf (call, 500, "failed to start session: %s", error->message);
      return;
    }
  mr_tb_reply_empty (call, 201);
}

/* GET /process/session, GET /process/session/{sessionId} -------------------------- */

static void
handle_list (MrTbCall *call)
{
  MrSessionStore *store = get_store (call, FALSE);
  g_autoptr(JsonArray) array = json_array_new ();
  g_autoptr(JsonNode) node = NULL;

  if (store)
    {
      g_autoptr(GPtrArray) list = mr_session_store_list (store);
      for (guint i = 0; i < list->len; i++)
        json_array_add_element (array, session_to_json (list->pdata[i]));
    }
  node = json_node_init_array (json_node_alloc (), array);
  mr_tb_reply_json (call, 200, node);
}

static void
handle_get (MrTbCall *call)
{
  MrSession *session = lookup_session (call);
  g_autoptr(JsonNode) node = NULL;

  if (session == NULL)
    return;
  node = session_to_json (session);
  mr_tb_reply_json (call, 200, node);
}

/* GET /process/session/entrypoint[/logs]: [latest] sandboxes started by the runner run
 * their entrypoint in a session of that name; this toolbox has no entrypoint. */
static void
handle_entrypoint (MrTbCall *call)
{
  mr_tb_reply_error (call, 404, "session not found");
}

/* DELETE /process/session/{sessionId} -------------------------------------------- */

typedef struct {
  MrTbCall *call;
  MrHeldMessage held;
} PendingDelete;

static void
on_deleted (gpointer user_data)
{
  PendingDelete *pd = user_data;

  if (mr_held_message_get (&pd->held))
    {
      mr_tb_reply_empty (pd->call, 204);
      mr_held_message_release (&pd->held, TRUE);
    }
  g_free (pd);
}

static void
handle_delete (MrTbCall *call)
{
  MrSession *session = lookup_session (call);
  PendingDelete *pd;

  if (session == NULL)
    return;
  /* the termination takes up to 5 s; answer when it is over */
  pd = g_new0 (PendingDelete, 1);
  pd->call = call;
  soup_server_message_pause (call->msg);
  mr_held_message_hold (&pd->held, call->msg, FALSE, NULL, NULL);
  mr_session_store_delete (get_store (call, FALSE), session, on_deleted, pd);
}

/* POST /process/session/{sessionId}/exec ----------------------------------------- */

static void
reply_exec (MrTbCall *call, guint status, const char *cmd_id, GBytes *log, gboolean has_exit, int exit_code,
            Gates gates)
{
  g_autoptr(JsonObject) o = json_object_new ();
  g_autoptr(JsonNode) node = NULL;

  json_object_set_string_member (o, "cmdId", cmd_id);
  json_object_set_null_member (o, "output");
  json_object_set_null_member (o, "stdout");
  json_object_set_null_member (o, "stderr");
  if (log)
    {
      gsize len;
      const guint8 *data = g_bytes_get_data (log, &len);
      g_autofree char *output = NULL;
      if (gates.combined)
        {
          g_autoptr(GByteArray) stripped = mr_log_strip_markers (data, len);
          output = bytes_to_utf8 (stripped);
        }
      else
        {
          output = mr_log_to_utf8 (data, len);
          if (!gates.skip_demux)
            {
              g_autoptr(GByteArray) out = g_byte_array_new ();
              g_autoptr(GByteArray) err = g_byte_array_new ();
              g_autofree char *out_text = NULL, *err_text = NULL;
              mr_log_demux (data, len, out, err);
              out_text = bytes_to_utf8 (out);
              err_text = bytes_to_utf8 (err);
              json_object_set_string_member (o, "stdout", out_text);
              json_object_set_string_member (o, "stderr", err_text);
            }
        }
      json_object_set_string_member (o, "output", output);
    }
  if (has_exit)
    json_object_set_int_member (o, "exitCode", exit_code);
  else
    json_object_set_null_member (o, "exitCode");
  node = json_node_init_object (json_node_alloc (), o);
  mr_tb_reply_json (call, status, node);
}

typedef struct {
  MrTbCall *call;
  MrHeldMessage held;
  MrSessionCommand *command;
  guint watch;
  Gates gates;
} SyncExec;

static void
sync_exec_free (SyncExec *se)
{
  if (se->watch)
    mr_session_command_unwatch (se->command, se->watch);
  mr_session_command_unref (se->command);
  g_free (se);
}

static void
on_sync_event (MrSessionCommand *command, MrSessionEvent event, gpointer user_data)
{
  SyncExec *se = user_data;
  g_autoptr(GBytes) log = NULL;
  g_autoptr(GError) error = NULL;

  switch (event)
    {
    case MR_SESSION_EVENT_FINISHED:
      log = mr_session_command_read_log (command, &error);
      if (log == NULL)
        mr_tb_reply_error_printf (se->call, 400, "failed to read log file: %s", error->message);
      else
        reply_exec (se->call, 200, mr_session_command_get_id (command), log, TRUE,
                    mr_session_command_get_exit_code (command), se->gates);
      break;
    case MR_SESSION_EVENT_SHELL_DIED:
    case MR_SESSION_EVENT_GONE:
      mr_tb_reply_error (se->call, 400, "session cancelled");
      break;
    default:
      return;
    }
  mr_held_message_release (&se->held, TRUE);
  sync_exec_free (se);
}

/* The client of a sync exec left: the command goes on (as in the daemon), unwatched. */
static void
on_sync_lost (gpointer user_data)
{
  sync_exec_free (user_data);
}

static gboolean
get_bool (JsonObject *o, const char *name)
{
  JsonNode *node = json_object_get_member (o, name);

  return node && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_BOOLEAN &&
         json_node_get_boolean (node);
}

static void
handle_exec (MrTbCall *call)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) body = mr_tb_parse_body_object (call, &error);
  g_autofree char *trimmed = NULL;
  MrSession *session;
  g_autofree char *command_id = NULL;
  MrSessionCommand *command;
  const char *text;
  gboolean async;
  SyncExec *se;

  if (body == NULL)
    {
      mr_tb_reply_error_printf (call, 400, "invalid request body: %s", error->message);
      return;
    }
  text = mr_tb_json_string (body, "command");
  if (text == NULL || *text == '\0')
    {
      mr_tb_reply_error (call, 400, "invalid request body: Key: 'SessionExecuteRequest.Command' "
                                    "Error:Field validation for 'Command' failed on the 'required' tag");
      return;
    }
  trimmed = g_strstrip (g_strdup (text));
  if (*trimmed == '\0')
    {
      mr_tb_reply_error (call, 400, "command cannot be empty");
      return;
    }
  if ((session = lookup_session (call)) == NULL)
    return;
  async = get_bool (body, "runAsync") || get_bool (body, "async");
  command_id = mr_tb_new_uuid (call->toolbox);
  command = mr_session_exec (session, command_id, text, async, get_bool (body, "suppressInputEcho"), &error);
  if (command == NULL)
    {
      mr_tb_reply_error (call, 400, g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CLOSED)
                                    ? "session cancelled" : error->message);
      return;
    }
  if (async)
    {
      Gates none = { 0 };
      reply_exec (call, 202, mr_session_command_get_id (command), NULL, FALSE, 0, none);
      return;
    }
  /* sync: no server-side timeout; the answer comes when the command is over */
  se = g_new0 (SyncExec, 1);
  se->call = call;
  se->command = mr_session_command_ref (command);
  se->gates = request_gates (call);
  se->watch = mr_session_command_watch (command, on_sync_event, se);
  soup_server_message_pause (call->msg);
  mr_held_message_hold (&se->held, call->msg, TRUE, on_sync_lost, se);
}

/* GET /process/session/{sessionId}/command/{commandId} ----------------------------- */

static void
handle_command (MrTbCall *call)
{
  MrSessionCommand *command = lookup_command (call, NULL);
  g_autoptr(JsonNode) node = NULL;

  if (command == NULL)
    return;
  node = command_to_json (command);
  mr_tb_reply_json (call, 200, node);
}

/* POST /process/session/{sessionId}/command/{commandId}/input [latest] ------------- */

static void
handle_input (MrTbCall *call)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) body = mr_tb_parse_body_object (call, &error);
  MrSessionCommand *command;
  const char *data;

  if (body == NULL)
    {
      mr_tb_reply_error_printf (call, 400, "invalid request body: %s", error->message);
      return;
    }
  data = mr_tb_json_string (body, "data");
  if (data == NULL || *data == '\0')
    {
      mr_tb_reply_error (call, 400, "invalid request body: Key: 'SessionSendInputRequest.Data' "
                                    "Error:Field validation for 'Data' failed on the 'required' tag");
      return;
    }
  if ((command = lookup_command (call, NULL)) == NULL)
    return;
  if (!mr_session_command_send_input (command, data, &error))
    {
      mr_tb_reply_error (call, g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CLOSED) ? 410 : 500, error->message);
      return;
    }
  mr_tb_reply_empty (call, 204);
}

/* GET .../command/{commandId}/logs: following the log ------------------------------- */

typedef struct {
  int ref;
  gboolean disposed;
  MrSessionCommand *command;
  guint watch;
  int fd;
  gboolean follow;
  gboolean combined;
  MrMarkerStripper stripper;
  gboolean final;             /* the command finished: the log will not grow */
  gboolean ending;
  GSource *idle;
  /* WebSocket */
  SoupWebsocketConnection *ws;
  gulong ws_closed_id;
  gulong ws_message_id;
  /* plain HTTP (the runner's follow conversion) */
  MrHeldMessage held;
  SoupServerMessage *http_msg;
  gulong wrote_chunk_id;
  gboolean chunk_in_flight;
} Follower;

static void follower_pump (Follower *f);

static Follower *
follower_ref (Follower *f)
{
  f->ref++;
  return f;
}

static void
follower_unref (Follower *f)
{
  if (--f->ref > 0)
    return;
  g_free (f);
}

/* Stops everything (idempotent); the memory goes with the last reference. */
static void
follower_dispose (Follower *f)
{
  if (f->disposed)
    return;
  f->disposed = TRUE;
  mr_source_clear (&f->idle);
  if (f->watch)
    mr_session_command_unwatch (f->command, f->watch);
  f->watch = 0;
  g_clear_pointer (&f->command, mr_session_command_unref);
  if (f->fd >= 0)
    close (f->fd);
  f->fd = -1;
  if (f->ws)
    {
      g_signal_handler_disconnect (f->ws, f->ws_closed_id);
      g_signal_handler_disconnect (f->ws, f->ws_message_id);
      g_clear_object (&f->ws);
    }
  if (f->http_msg)
    {
      g_signal_handler_disconnect (f->http_msg, f->wrote_chunk_id);
      g_clear_object (&f->http_msg);
    }
  mr_held_message_release (&f->held, FALSE);
  follower_unref (f);
}

/* Sends the final data and ends the stream: close 1000, or the end of the body. */
static void
follower_end (Follower *f)
{
  g_autoptr(GByteArray) rest = g_byte_array_new ();
  SoupServerMessage *msg;

  if (f->ending || f->disposed)
    return;
  f->ending = TRUE;
  mr_source_clear (&f->idle);
  if (f->combined)
    mr_marker_stripper_finish (&f->stripper, rest);
  if (f->ws)
    {
      if (soup_websocket_connection_get_state (f->ws) == SOUP_WEBSOCKET_STATE_OPEN)
        {
          if (rest->len)
            soup_websocket_connection_send_binary (f->ws, rest->data, rest->len);
          /* disposed on "closed" */
          soup_websocket_connection_close (f->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
        }
      return;
    }
  msg = mr_held_message_get (&f->held);
  if (msg)
    {
      SoupMessageBody *body = soup_server_message_get_response_body (msg);
      if (rest->len)
        soup_message_body_append (body, SOUP_MEMORY_COPY, rest->data, rest->len);
      soup_message_body_complete (body);
      mr_held_message_release (&f->held, TRUE);
    }
  follower_dispose (f);
}

static gboolean
pump_again (gpointer user_data)
{
  Follower *f = user_data;

  mr_source_clear (&f->idle);
  follower_pump (f);
  return G_SOURCE_REMOVE;
}

/* Sends what the log holds beyond what was sent; ends the stream at the end of a
 * finished log (or of the current log, without follow). */
static void
follower_pump (Follower *f)
{
  guint8 buffer[HTTP_CHUNK_MAX];
  gsize max = f->ws ? WS_FRAME_MAX : HTTP_CHUNK_MAX;

  if (f->ending || f->disposed)
    return;
  follower_ref (f);
  for (int turn = 0; turn < PUMP_BUDGET && !f->disposed && !f->ending; turn++)
    {
      g_autoptr(GByteArray) stripped = NULL;
      const guint8 *data = buffer;
      gssize n;
      gsize len;
      gboolean final = f->final;   /* read before the data: the log is complete then */

      if (f->chunk_in_flight)
        goto out;
      n = read (f->fd, buffer, max);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          if (n < 0 || !f->follow || final)
            follower_end (f);
          goto out;
        }
      len = (gsize) n;
      if (f->combined)
        {
          stripped = g_byte_array_new ();
          mr_marker_stripper_feed (&f->stripper, buffer, len, stripped);
          data = stripped->data;
          len = stripped->len;
          if (len == 0)
            continue;
        }
      if (f->ws)
        {
          if (soup_websocket_connection_get_state (f->ws) != SOUP_WEBSOCKET_STATE_OPEN)
            goto out;
          soup_websocket_connection_send_binary (f->ws, data, len);
        }
      else
        {
          SoupServerMessage *msg = mr_held_message_get (&f->held);
          if (msg == NULL)
            goto out;
          soup_message_body_append (soup_server_message_get_response_body (msg), SOUP_MEMORY_COPY, data, len);
          f->chunk_in_flight = TRUE;
          soup_server_message_unpause (msg);
          goto out;
        }
    }
  /* more to send: let the rest of the server run first */
  if (!f->disposed && !f->ending && f->idle == NULL)
    f->idle = mr_idle_add (pump_again, f);
out:
  follower_unref (f);
}

static void
on_follow_event (MrSessionCommand *command, MrSessionEvent event, gpointer user_data)
{
  Follower *f = user_data;

  switch (event)
    {
    case MR_SESSION_EVENT_OUTPUT:
      follower_pump (f);
      break;
    case MR_SESSION_EVENT_FINISHED:
      f->final = TRUE;
      follower_pump (f);
      break;
    case MR_SESSION_EVENT_GONE:
      /* the session was deleted: close at once */
      follower_end (f);
      break;
    case MR_SESSION_EVENT_SHELL_DIED:
    default:
      break;
    }
}

static Follower *
follower_new (MrSessionCommand *command, gboolean follow, gboolean combined, GError **error)
{
  Follower *f;
  int fd = open (mr_session_command_get_log_path (command), O_RDONLY | O_CLOEXEC);

  if (fd < 0)
    {
      int errsv = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv), "open %s: %s",
                   mr_session_command_get_log_path (command), g_strerror (errsv));
      return NULL;
    }
  f = g_new0 (Follower, 1);
  f->ref = 1;
  f->fd = fd;
  f->command = mr_session_command_ref (command);
  f->follow = follow;
  f->combined = combined;
  f->final = mr_session_command_is_finished (command) || mr_session_command_is_gone (command);
  mr_marker_stripper_init (&f->stripper);
  f->watch = mr_session_command_watch (command, on_follow_event, f);
  return f;
}

static void
on_ws_closed (SoupWebsocketConnection *ws, gpointer user_data)
{
  /* the client closed, or our close completed: stop tailing */
  follower_dispose (user_data);
}

static void
on_ws_message (SoupWebsocketConnection *ws, int type, GBytes *message, gpointer user_data)
{
  /* client frames are read and discarded */
}

typedef struct {
  MrSessionCommand *command;
  gboolean follow;
  gboolean combined;
} WsStart;

static void
ws_start_free (WsStart *start)
{
  mr_session_command_unref (start->command);
  g_free (start);
}

static void
on_ws_ready (MrTbCall *call, SoupWebsocketConnection *connection, gpointer user_data)
{
  WsStart *start = user_data;
  g_autoptr(GError) error = NULL;
  Follower *f = follower_new (start->command, start->follow, start->combined, &error);

  if (f == NULL)
    {
      soup_websocket_connection_close (connection, SOUP_WEBSOCKET_CLOSE_SERVER_ERROR, error->message);
      return;
    }
  f->ws = g_object_ref (connection);
  f->ws_closed_id = g_signal_connect (connection, "closed", G_CALLBACK (on_ws_closed), f);
  f->ws_message_id = g_signal_connect (connection, "message", G_CALLBACK (on_ws_message), NULL);
  follower_pump (f);
}

static void
on_http_wrote_chunk (SoupServerMessage *msg, gpointer user_data)
{
  Follower *f = user_data;

  f->chunk_in_flight = FALSE;
  follower_pump (f);
}

/* The client left the plain-HTTP follow stream (or the server went down): stop. */
static void
on_http_follow_lost (gpointer user_data)
{
  follower_dispose (user_data);
}

static void
start_http_follow (MrTbCall *call, MrSessionCommand *command)
{
  g_autoptr(GError) error = NULL;
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (call->msg);
  Follower *f;

  /* the runner's conversion dials the daemon without the client's headers: the daemon
   * sees no SDK version, so the markers are stripped (combinedOutput) */
  f = follower_new (command, TRUE, mr_sdk_gate_combined_output (NULL, NULL), &error);
  if (f == NULL)
    {
      mr_tb_reply_error (call, 404, error->message);
      return;
    }
  soup_server_message_set_status (call->msg, 200, NULL);
  soup_message_headers_set_content_type (headers, "application/octet-stream", NULL);
  soup_message_headers_set_encoding (headers, SOUP_ENCODING_CHUNKED);
  soup_message_body_set_accumulate (soup_server_message_get_response_body (call->msg), FALSE);
  mr_held_message_hold (&f->held, call->msg, TRUE, on_http_follow_lost, f);
  f->http_msg = g_object_ref (call->msg);
  f->wrote_chunk_id = g_signal_connect (call->msg, "wrote-chunk", G_CALLBACK (on_http_wrote_chunk), f);
  follower_pump (f);
}

/* GET .../logs without follow (or at the daemon itself): the whole current log */
static void
reply_log (MrTbCall *call, MrSessionCommand *command)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) log = mr_session_command_read_log (command, &error);
  Gates gates = request_gates (call);
  const guint8 *data;
  gsize len;

  if (log == NULL)
    {
      guint status = g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_NOENT) ? 404
                     : g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_ACCES) ? 403 : 400;
      mr_tb_reply_error (call, status, error->message);
      return;
    }
  data = g_bytes_get_data (log, &len);
  if (gates.combined)
    {
      g_autoptr(GByteArray) stripped = mr_log_strip_markers (data, len);
      soup_server_message_set_status (call->msg, 200, NULL);
      soup_server_message_set_response (call->msg, "text/plain; charset=utf-8", SOUP_MEMORY_COPY,
                                        (const char *) stripped->data, stripped->len);
    }
  else if (gates.json_logs)
    {
      /* [latest] SDKs from 0.167.0 read JSON */
      g_autoptr(JsonObject) o = json_object_new ();
      g_autoptr(JsonNode) node = NULL;
      g_autoptr(GByteArray) out = g_byte_array_new ();
      g_autoptr(GByteArray) err = g_byte_array_new ();
      g_autofree char *output = mr_log_to_utf8 (data, len);
      g_autofree char *out_text = NULL, *err_text = NULL;

      mr_log_demux (data, len, out, err);
      out_text = bytes_to_utf8 (out);
      err_text = bytes_to_utf8 (err);
      json_object_set_string_member (o, "output", output);
      json_object_set_string_member (o, "stdout", out_text);
      json_object_set_string_member (o, "stderr", err_text);
      node = json_node_init_object (json_node_alloc (), o);
      mr_tb_reply_json (call, 200, node);
    }
  else
    {
      soup_server_message_set_status (call->msg, 200, NULL);
      soup_server_message_set_response (call->msg, "text/plain; charset=utf-8", SOUP_MEMORY_COPY,
                                        (const char *) data, len);
    }
}

static void
handle_logs (MrTbCall *call)
{
  MrSessionCommand *command = lookup_command (call, NULL);
  gboolean follow = g_strcmp0 (mr_tb_query (call, "follow"), "true") == 0;

  if (command == NULL)
    return;
  if (mr_tb_is_websocket_request (call))
    {
      const char *offered = soup_message_headers_get_list (soup_server_message_get_request_headers (call->msg),
                                                           "Sec-WebSocket-Protocol");
      g_auto(GStrv) tokens = offered ? g_strsplit (offered, ",", -1) : NULL;
      g_autofree char *echo = NULL;
      const char *protocols[2] = { NULL, NULL };
      WsStart *start = g_new0 (WsStart, 1);

      /* echo the X-Daytona-SDK-Version~<v> subprotocol (exactly as offered) */
      for (char **t = tokens; t && *t && echo == NULL; t++)
        if (g_str_has_prefix (g_strstrip (*t), "X-Daytona-SDK-Version~"))
          echo = g_strdup (*t);
      protocols[0] = echo;
      start->command = mr_session_command_ref (command);
      start->follow = follow;
      start->combined = request_gates (call).combined;
      mr_tb_accept_websocket (call, protocols[0] ? protocols : NULL, on_ws_ready, start,
                              (GDestroyNotify) ws_start_free);
      return;
    }
  /* the runner's follow special case: served here when the runner hosts the toolbox */
  if (follow && mr_toolbox_request_get_sandbox_id (call->request) != NULL)
    {
      start_http_follow (call, command);
      return;
    }
  reply_log (call, command);
}

static const MrRoute routes[] = {
  { "POST", "/process/session", handle_create, NULL, 0, "session-create" },
  { "GET", "/process/session", handle_list, NULL, 0, "session-list" },
  { "GET", "/process/session/entrypoint", handle_entrypoint, NULL, 0, "session-entrypoint" },
  { "GET", "/process/session/entrypoint/logs", handle_entrypoint, NULL, 0, "session-entrypoint-logs" },
  { "GET", "/process/session/{sessionId}", handle_get, NULL, 0, "session-get" },
  { "DELETE", "/process/session/{sessionId}", handle_delete, NULL, 0, "session-delete" },
  { "POST", "/process/session/{sessionId}/exec", handle_exec, NULL, 0, "session-exec" },
  { "GET", "/process/session/{sessionId}/command/{commandId}", handle_command, NULL, 0, "session-command" },
  { "GET", "/process/session/{sessionId}/command/{commandId}/logs", handle_logs, NULL, 0, "session-command-logs" },
  { "POST", "/process/session/{sessionId}/command/{commandId}/input", handle_input, NULL, 0, "session-command-input" },
};

void
mr_tb_register_sessions (MrRouter *router)
{
  mr_router_add_all (router, routes, G_N_ELEMENTS (routes));
}
