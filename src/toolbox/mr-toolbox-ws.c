/* mr-toolbox-ws.c: a small server-side WebSocket over a stolen HTTP connection.
 *
 * Why not SoupWebsocketConnection: it queues close frames *ahead* of data frames that
 * are not yet started, so a close could overtake the last output of a PTY or of a run;
 * it has no way to close the connection without a close frame; and it does not say how
 * many frames are still waiting, which the per-client queue limits need.
 *
 * Life cycle: OPEN -> CLOSING (our close frame, or the end marker of a drop, is queued
 * behind the data) -> LINGER (everything written, write side shut down, waiting for
 * the client's close or EOF, so that unread input cannot turn our close into a reset)
 * -> DONE (stream closed). While CLOSING or LINGER the object keeps itself alive and
 * bounds both phases with timeouts. */
#include <string.h>

#include "mr-toolbox-ws.h"
#include "mr-util.h"

#define CLOSE_FLUSH_TIMEOUT_MS 10000   /* a client that stopped reading cannot hold us */
#define LINGER_TIMEOUT_MS      2000
#define DEFAULT_MAX_MESSAGE    (1024 * 1024)
#define MAX_REASON             123     /* a close frame's payload is at most 125 bytes */

enum {
  FRAME_DATA = 1 << 0,   /* a message: counts in ->queued */
  FRAME_LAST = 1 << 1,   /* the connection ends once this frame is written */
  FRAME_CLOSE = 1 << 2,  /* our close frame */
};

typedef struct {
  GBytes *bytes;
  gsize offset;
  guint flags;
} OutFrame;

typedef enum { WS_OPEN, WS_CLOSING, WS_LINGER, WS_DONE } WsState;

struct _MrTbWs {
  gint refs;
  GIOStream *stream;
  GPollableInputStream *input;
  GPollableOutputStream *output;
  GSource *in_source;
  GSource *out_source;
  GSource *timeout;
  GByteArray *inbuf;
  GByteArray *message;       /* fragments of the message being received */
  guint8 message_opcode;     /* 0 when none */
  gsize max_message;
  GQueue out;                /* OutFrame */
  guint queued;
  WsState state;
  gboolean peer_closed;      /* the client sent its close frame */
  gboolean self_ref;
  MrTbWsMessageFunc on_message;
  MrTbWsClosedFunc on_closed;
  gpointer user_data;
};

static void try_write (MrTbWs *ws);
static void finish (MrTbWs *ws);

static void
out_frame_free (OutFrame *f)
{
  g_bytes_unref (f->bytes);
  g_free (f);
}

static void
clear_handlers (MrTbWs *ws)
{
  ws->on_message = NULL;
  ws->on_closed = NULL;
  ws->user_data = NULL;
}

/* Tell the owner the client is gone, once, and only while it still owns the socket. */
static void
notify_closed (MrTbWs *ws, gushort code)
{
  MrTbWsClosedFunc cb = ws->on_closed;
  gpointer data = ws->user_data;

  if (ws->state != WS_OPEN)
    return;
  clear_handlers (ws);
  if (cb)
    cb (ws, code, data);
}

/* Sending ------------------------------------------------------------------------ */

static void
queue_frame (MrTbWs *ws, guint8 opcode, const void *payload, gsize length, guint flags, gboolean urgent)
{
  guint8 header[10];
  gsize hlen = 2;
  guint8 *buf;
  OutFrame *f = g_new0 (OutFrame, 1);
  OutFrame *head;

  header[0] = 0x80 | opcode;
  if (length < 126)
    header[1] = (guint8) length;
  else if (length <= 0xffff)
    {
      header[1] = 126;
      header[2] = (guint8) (length >> 8);
      header[3] = (guint8) length;
      hlen = 4;
    }
  else
    {
      header[1] = 127;
      for (int i = 0; i < 8; i++)
        header[2 + i] = (guint8) ((guint64) length >> (56 - 8 * i));
      hlen = 10;
    }
  buf = g_malloc (hlen + length);
  memcpy (buf, header, hlen);
  if (length)
    memcpy (buf + hlen, payload, length);
  f->bytes = g_bytes_new_take (buf, hlen + length);
  f->flags = flags;

  /* control frames may go between messages, never into a frame already started */
  head = g_queue_peek_head (&ws->out);
  if (urgent)
    g_queue_push_nth (&ws->out, f, (head && head->offset > 0) ? 1 : 0);
  else
    g_queue_push_tail (&ws->out, f);
  if (flags & FRAME_DATA)
    ws->queued++;
  try_write (ws);
}

static gboolean
on_writable (GObject *stream, gpointer data)
{
  MrTbWs *ws = data;

  mr_source_clear (&ws->out_source);
  mr_tb_ws_ref (ws);
  try_write (ws);
  mr_tb_ws_unref (ws);
  return G_SOURCE_REMOVE;
}

/* Sends FIN and keeps the read side; FALSE if the socket is not reachable. (libsoup
 * attaches the connection's GSocket to a stolen stream as "GSocket".) */
static gboolean
shutdown_write (MrTbWs *ws)
{
  GSocket *socket = g_object_get_data (G_OBJECT (ws->stream), "GSocket");

  if (socket == NULL && G_IS_SOCKET_CONNECTION (ws->stream))
    socket = g_socket_connection_get_socket (G_SOCKET_CONNECTION (ws->stream));
  return socket != NULL && g_socket_shutdown (socket, FALSE, TRUE, NULL);
}

static gboolean
on_timeout (gpointer data)
{
  MrTbWs *ws = data;

  mr_source_clear (&ws->timeout);
  mr_tb_ws_ref (ws);
  finish (ws);
  mr_tb_ws_unref (ws);
  return G_SOURCE_REMOVE;
}

static void
set_timeout (MrTbWs *ws, guint ms)
{
  mr_source_clear (&ws->timeout);
  ws->timeout = mr_timeout_add (ms, on_timeout, ws);
}

/* The last frame (our close frame, or the marker of a drop) is out. */
static void
last_frame_written (MrTbWs *ws)
{
  if (ws->peer_closed || !shutdown_write (ws))
    {
      finish (ws);
      return;
    }
  ws->state = WS_LINGER;
  set_timeout (ws, LINGER_TIMEOUT_MS);
}

static void
io_failed (MrTbWs *ws)
{
  notify_closed (ws, 1006);
  finish (ws);
}

static void
try_write (MrTbWs *ws)
{
  OutFrame *f;

  while (ws->state != WS_DONE && (f = g_queue_peek_head (&ws->out)) != NULL)
    {
      gsize size;
      const guint8 *data = g_bytes_get_data (f->bytes, &size);

      if (f->offset < size)
        {
          g_autoptr(GError) error = NULL;
          gssize n = g_pollable_output_stream_write_nonblocking (ws->output, data + f->offset, size - f->offset,
                                                                 NULL, &error);
          if (n < 0)
            {
              if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
                {
                  if (ws->out_source == NULL)
                    {
                      ws->out_source = g_pollable_output_stream_create_source (ws->output, NULL);
                      g_source_set_callback (ws->out_source, G_SOURCE_FUNC (on_writable), ws, NULL);
                      g_source_attach (ws->out_source, g_main_context_get_thread_default ());
                    }
                  return;
                }
              io_failed (ws);
              return;
            }
          f->offset += n;
          if (f->offset < size)
            continue;
        }
      g_queue_pop_head (&ws->out);
      if (f->flags & FRAME_DATA)
        ws->queued--;
      if (f->flags & FRAME_LAST)
        {
          out_frame_free (f);
          last_frame_written (ws);
          return;
        }
      out_frame_free (f);
    }
}

static gboolean
send_message (MrTbWs *ws, guint8 opcode, const void *data, gsize length)
{
  if (ws->state != WS_OPEN)
    return FALSE;
  /* a write error calls the owner's closed handler, which may drop the owner's ref */
  mr_tb_ws_ref (ws);
  queue_frame (ws, opcode, data, length, FRAME_DATA, FALSE);
  mr_tb_ws_unref (ws);
  return TRUE;
}

gboolean
mr_tb_ws_send_text (MrTbWs *ws, const char *text)
{
  return send_message (ws, 0x1, text, strlen (text));
}

gboolean
mr_tb_ws_send_binary (MrTbWs *ws, const void *data, gsize length)
{
  return send_message (ws, 0x2, data, length);
}

guint
mr_tb_ws_get_queued (MrTbWs *ws)
{
  return ws->queued;
}

gboolean
mr_tb_ws_is_open (MrTbWs *ws)
{
  return ws->state == WS_OPEN;
}

/* Closing -------------------------------------------------------------------------- */

static void
close_stream_done (GObject *source, GAsyncResult *result, gpointer data)
{
  g_io_stream_close_finish (G_IO_STREAM (source), result, NULL);
}

static void
release_io (MrTbWs *ws)
{
  mr_source_clear (&ws->in_source);
  mr_source_clear (&ws->out_source);
  mr_source_clear (&ws->timeout);
  g_queue_clear_full (&ws->out, (GDestroyNotify) out_frame_free);
  ws->queued = 0;
  if (ws->stream && !g_io_stream_is_closed (ws->stream))
    g_io_stream_close_async (ws->stream, G_PRIORITY_DEFAULT, NULL, close_stream_done, NULL);
}

static void
finish (MrTbWs *ws)
{
  if (ws->state == WS_DONE)
    return;
  ws->state = WS_DONE;
  clear_handlers (ws);
  release_io (ws);
  if (ws->self_ref)
    {
      ws->self_ref = FALSE;
      mr_tb_ws_unref (ws);
    }
}

static void
begin_closing (MrTbWs *ws, gboolean with_frame, gushort code, const char *reason, gboolean drop_unsent)
{
  if (ws->state != WS_OPEN)
    return;
  clear_handlers (ws);
  ws->state = WS_CLOSING;
  /* kept alive until the end of the close, whatever the owner does */
  ws->self_ref = TRUE;
  mr_tb_ws_ref (ws);
  g_byte_array_set_size (ws->message, 0);
  ws->message_opcode = 0;

  if (drop_unsent)
    {
      GList *l = ws->out.head;
      while (l)
        {
          GList *next = l->next;
          OutFrame *f = l->data;
          if (f->offset == 0)
            {
              if (f->flags & FRAME_DATA)
                ws->queued--;
              out_frame_free (f);
              g_queue_delete_link (&ws->out, l);
            }
          l = next;
        }
    }
  set_timeout (ws, CLOSE_FLUSH_TIMEOUT_MS);

  if (with_frame)
    {
      guint8 payload[2 + MAX_REASON];
      gsize len = 0;

      if (code != 1005)
        {
          payload[0] = (guint8) (code >> 8);
          payload[1] = (guint8) code;
          len = 2;
          if (reason && *reason)
            {
              gsize rlen = strlen (reason);
              if (rlen > MAX_REASON)
                {
                  const char *end = reason + MAX_REASON;
                  /* cut on a character boundary */
                  while (end > reason && (((guchar) *end) & 0xc0) == 0x80)
                    end--;
                  rlen = end - reason;
                }
              memcpy (payload + 2, reason, rlen);
              len += rlen;
            }
        }
      queue_frame (ws, 0x8, payload, len, FRAME_LAST | FRAME_CLOSE, FALSE);
    }
  else
    {
      OutFrame *marker = g_new0 (OutFrame, 1);
      marker->bytes = g_bytes_new (NULL, 0);
      marker->flags = FRAME_LAST;
      g_queue_push_tail (&ws->out, marker);
      try_write (ws);
    }
}

void
mr_tb_ws_close (MrTbWs *ws, gushort code, const char *reason)
{
  begin_closing (ws, TRUE, code, reason, FALSE);
}

void
mr_tb_ws_close_now (MrTbWs *ws, gushort code, const char *reason)
{
  begin_closing (ws, TRUE, code, reason, TRUE);
}

void
mr_tb_ws_drop (MrTbWs *ws)
{
  begin_closing (ws, FALSE, 0, NULL, FALSE);
}

void
mr_tb_ws_close_final (MrTbWs *ws, gushort code, const char *reason)
{
  mr_tb_ws_ref (ws);
  begin_closing (ws, TRUE, code, reason, FALSE);
  finish (ws);
  mr_tb_ws_unref (ws);
}

/* Receiving ------------------------------------------------------------------------ */

static gushort
reply_code (gushort code)
{
  if ((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) || (code >= 3000 && code <= 4999))
    return code;
  return 1000;
}

static void
protocol_failure (MrTbWs *ws, gushort code, const char *reason)
{
  if (ws->state == WS_OPEN)
    {
      notify_closed (ws, code);
      begin_closing (ws, TRUE, code, reason, TRUE);
    }
  else
    finish (ws);
}

static void
deliver_message (MrTbWs *ws)
{
  gboolean is_text = ws->message_opcode == 0x1;
  g_autoptr(GBytes) bytes = g_bytes_new (ws->message->data, ws->message->len);

  g_byte_array_set_size (ws->message, 0);
  ws->message_opcode = 0;
  if (ws->state == WS_OPEN && ws->on_message)
    ws->on_message (ws, is_text, bytes, ws->user_data);
}

/* Parses the complete frames in the input buffer. Returns FALSE to stop reading. */
static gboolean
process_input (MrTbWs *ws)
{
  while (ws->state != WS_DONE)
    {
      const guint8 *d = ws->inbuf->data;
      gsize have = ws->inbuf->len, hlen = 2;
      guint64 plen;
      gboolean fin, control;
      guint8 opcode, *payload;

      if (have < 2)
        return TRUE;
      fin = (d[0] & 0x80) != 0;
      opcode = d[0] & 0x0f;
      control = (opcode & 0x8) != 0;
      plen = d[1] & 0x7f;
      if (plen == 126)
        {
          if (have < 4)
            return TRUE;
          plen = ((guint64) d[2] << 8) | d[3];
          hlen = 4;
        }
      else if (plen == 127)
        {
          if (have < 10)
            return TRUE;
          plen = 0;
          for (int i = 0; i < 8; i++)
            plen = (plen << 8) | d[2 + i];
          hlen = 10;
        }
      if ((d[0] & 0x70) != 0 || !(d[1] & 0x80) ||
          (control && (plen > 125 || !fin || opcode > 0xA)) || (!control && opcode > 0x2))
        {
          protocol_failure (ws, 1002, "protocol error");
          return FALSE;
        }
      if (!control && (plen > ws->max_message || ws->message->len + plen > ws->max_message))
        {
          protocol_failure (ws, 1009, "message too big");
          return FALSE;
        }
      hlen += 4;
      if (have < hlen + plen)
        return TRUE;

      payload = ws->inbuf->data + hlen;
      for (guint64 i = 0; i < plen; i++)
        payload[i] ^= d[hlen - 4 + (i & 3)];

      switch (opcode)
        {
        case 0x0:
        case 0x1:
        case 0x2:
          if ((opcode == 0x0) != (ws->message_opcode != 0))
            {
              protocol_failure (ws, 1002, "protocol error");
              return FALSE;
            }
          if (opcode != 0x0)
            ws->message_opcode = opcode;
          g_byte_array_append (ws->message, payload, (guint) plen);
          if (fin)
            deliver_message (ws);
          break;
        case 0x8:
          {
            gushort code = plen >= 2 ? (gushort) ((payload[0] << 8) | payload[1]) : 1005;
            if (plen == 1)
              {
                protocol_failure (ws, 1002, "protocol error");
                return FALSE;
              }
            ws->peer_closed = TRUE;
            if (ws->state == WS_OPEN)
              {
                notify_closed (ws, code);
                begin_closing (ws, TRUE, reply_code (code), NULL, FALSE);
              }
            else if (ws->state == WS_LINGER)
              finish (ws);
            return FALSE;
          }
        case 0x9:
          if (ws->state == WS_OPEN || ws->state == WS_CLOSING)
            queue_frame (ws, 0xA, payload, (gsize) plen, 0, TRUE);
          break;
        default:   /* pong */
          break;
        }
      if (ws->state == WS_DONE)
        return FALSE;
      g_byte_array_remove_range (ws->inbuf, 0, (guint) (hlen + plen));
    }
  return FALSE;
}

static gboolean
on_readable (GObject *stream, gpointer data)
{
  MrTbWs *ws = data;
  guint8 buf[16384];

  mr_tb_ws_ref (ws);
  for (int round = 0; round < 8 && ws->state != WS_DONE; round++)
    {
      g_autoptr(GError) error = NULL;
      gssize n = g_pollable_input_stream_read_nonblocking (ws->input, buf, sizeof buf, NULL, &error);

      if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        break;
      if (n <= 0)
        {
          io_failed (ws);
          break;
        }
      if (ws->peer_closed)
        continue;   /* nothing after a close frame counts */
      g_byte_array_append (ws->inbuf, buf, (guint) n);
      if (!process_input (ws))
        g_byte_array_set_size (ws->inbuf, 0);
    }
  mr_tb_ws_unref (ws);
  return G_SOURCE_CONTINUE;
}

/* Object ----------------------------------------------------------------------------- */

static MrTbWs *
ws_new (GIOStream *stream)
{
  MrTbWs *ws = g_new0 (MrTbWs, 1);

  ws->refs = 1;
  ws->stream = g_object_ref (stream);
  ws->input = G_POLLABLE_INPUT_STREAM (g_io_stream_get_input_stream (stream));
  ws->output = G_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (stream));
  ws->inbuf = g_byte_array_new ();
  ws->message = g_byte_array_new ();
  ws->max_message = DEFAULT_MAX_MESSAGE;
  g_queue_init (&ws->out);
  ws->in_source = g_pollable_input_stream_create_source (ws->input, NULL);
  g_source_set_callback (ws->in_source, G_SOURCE_FUNC (on_readable), ws, NULL);
  g_source_attach (ws->in_source, g_main_context_get_thread_default ());
  return ws;
}

MrTbWs *
mr_tb_ws_ref (MrTbWs *ws)
{
  ws->refs++;
  return ws;
}

void
mr_tb_ws_unref (MrTbWs *ws)
{
  if (ws == NULL || --ws->refs > 0)
    return;
  ws->state = WS_DONE;
  release_io (ws);
  g_clear_object (&ws->stream);
  g_byte_array_unref (ws->inbuf);
  g_byte_array_unref (ws->message);
  g_free (ws);
}

void
mr_tb_ws_set_handlers (MrTbWs *ws, MrTbWsMessageFunc message, MrTbWsClosedFunc closed, gpointer user_data)
{
  if (ws->state != WS_OPEN)
    return;
  ws->on_message = message;
  ws->on_closed = closed;
  ws->user_data = user_data;
}

void
mr_tb_ws_set_max_message (MrTbWs *ws, gsize max_message)
{
  ws->max_message = max_message;
}

/* Handshake -------------------------------------------------------------------------- */

static GStrv
offered_protocols (MrTbCall *call)
{
  const char *header = soup_message_headers_get_list (soup_server_message_get_request_headers (call->msg),
                                                      "Sec-WebSocket-Protocol");
  GPtrArray *out = g_ptr_array_new ();

  if (header)
    {
      g_auto(GStrv) parts = g_strsplit (header, ",", -1);
      for (char **p = parts; *p; p++)
        {
          char *token = g_strstrip (*p);
          if (*token)
            g_ptr_array_add (out, g_strdup (token));
        }
    }
  g_ptr_array_add (out, NULL);
  return (GStrv) g_ptr_array_free (out, FALSE);
}

char *
mr_tb_ws_choose_protocol (MrTbCall *call, const char * const *preferred)
{
  g_auto(GStrv) offered = offered_protocols (call);

  for (guint i = 0; preferred && preferred[i]; i++)
    {
      gsize len = strlen (preferred[i]);
      gboolean prefix = len > 0 && preferred[i][len - 1] == '~';
      for (char **o = offered; *o; o++)
        if (prefix ? strncmp (*o, preferred[i], len) == 0 : strcmp (*o, preferred[i]) == 0)
          return g_strdup (*o);
    }
  return offered[0] ? g_strdup (offered[0]) : NULL;
}

gboolean
mr_tb_ws_offered_protocol (MrTbCall *call, const char *protocol)
{
  g_auto(GStrv) offered = offered_protocols (call);

  return g_strv_contains ((const char * const *) offered, protocol);
}

char *
mr_tb_ws_offered_protocol_value (MrTbCall *call, const char *prefix)
{
  g_auto(GStrv) offered = offered_protocols (call);
  gsize len = strlen (prefix);

  for (char **o = offered; *o; o++)
    if (strncmp (*o, prefix, len) == 0)
      return g_strdup (*o + len);
  return NULL;
}

typedef struct {
  MrTbWsReadyFunc ready;
  gpointer data;
  GDestroyNotify destroy;
} Upgrade;

static void
upgrade_free (gpointer data, GClosure *closure)
{
  Upgrade *u = data;

  if (u->destroy)
    u->destroy (u->data);
  g_free (u);
}

static void
on_wrote_informational (SoupServerMessage *msg, Upgrade *u)
{
  GIOStream *stream;

  if (soup_server_message_get_status (msg) != SOUP_STATUS_SWITCHING_PROTOCOLS)
    return;
  g_object_ref (msg);
  stream = soup_server_message_steal_connection (msg);
  if (stream)
    {
      u->ready (ws_new (stream), u->data);
      g_object_unref (stream);
    }
  g_object_unref (msg);
}

gboolean
mr_tb_ws_accept (MrTbCall *call, const char *protocol, MrTbWsReadyFunc ready,
                 gpointer user_data, GDestroyNotify destroy)
{
  const char *protocols[] = { protocol, NULL };
  Upgrade *u;

  if (!soup_websocket_server_check_handshake (call->msg, NULL, protocol ? (char **) protocols : NULL, NULL, NULL))
    {
      if (destroy)
        destroy (user_data);
      return FALSE;
    }
  soup_websocket_server_process_handshake (call->msg, NULL, protocol ? (char **) protocols : NULL, NULL, NULL);
  u = g_new0 (Upgrade, 1);
  u->ready = ready;
  u->data = user_data;
  u->destroy = destroy;
  g_signal_connect_data (call->msg, "wrote-informational", G_CALLBACK (on_wrote_informational), u,
                         upgrade_free, 0);
  return TRUE;
}
