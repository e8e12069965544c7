/* mr-reply-batch.c: the complete replies of one main-loop turn leave together.
 *
 * Why: libsoup writes a reply's headers and its body with two sends, so each reply is
 * two TCP segments, and each segment that reaches a client asleep in poll wakes it up.
 * The wake-up is paid by the sender, inside its send: on the 2-vCPU VMs we run on it is
 * an inter-processor interrupt costing 5 to 10 us of the server thread per reply, more
 * than the runner's own work for a GET (docs/performance.md). So a reply that is
 * complete when its handler returns is held in its socket (TCP_CORK) while libsoup
 * writes it, and every reply held during a main-loop turn is released when the turn
 * ends, back to back: one segment per reply, and a client with many connections is
 * woken once for all the replies of the turn rather than twice per reply. Event-loop
 * servers that write their replies "before sleep" do the same.
 *
 * A reply waits at most for the rest of the turn it was made in (the release runs in
 * the prepare step of the next turn, before the context polls); if the turn never came
 * the kernel would still send it after 200 ms. Batching is for a busy server: when the
 * last turn that made replies made only one (a client that waits for each reply, as a
 * test suite does), the next reply is released as soon as it is written, still in one
 * segment, so that it does not wait for the rest of the turn (10 - 25 us here).
 * Replies written over several turns (streams, paused messages, large bodies) are never
 * held past the turn their handler ran in: corking only delays a partly filled last
 * segment, and the release comes at the end of that turn whatever is written by then.
 *
 * libsoup sets TCP_NODELAY on every connection, so a release is never further held back
 * by Nagle's algorithm waiting for an acknowledgement. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "mr-reply-batch.h"

/* Before every other source: prepare functions of lower priorities are skipped in a turn
 * where a source of higher priority is ready, and the release must never be skipped. */
#define RELEASE_PRIORITY (G_PRIORITY_HIGH - 100)

/* The batch is the source whose prepare step releases it. */
struct _MrReplyBatch {
  GSource source;
  GPtrArray *held;            /* the sockets corked this turn (references) */
  guint replies_this_turn;
  gboolean batching;          /* the last turn with replies had more than one */
};

static void
set_cork (GSocket *socket, gboolean cork)
{
  /* a socket closed meanwhile sent what it had when it closed; errors are not worth a
   * word: at worst a reply goes out in two segments */
  if (!g_socket_is_closed (socket))
    g_socket_set_option (socket, IPPROTO_TCP, TCP_CORK, cork, NULL);
}

static void
release_held (MrReplyBatch *r)
{
  for (guint i = 0; i < r->held->len; i++)
    set_cork (r->held->pdata[i], FALSE);
  g_ptr_array_set_size (r->held, 0);
}

static gboolean
release_prepare (GSource *source, gint *timeout)
{
  MrReplyBatch *r = (MrReplyBatch *) source;

  *timeout = -1;
  release_held (r);
  if (r->replies_this_turn > 0)
    r->batching = r->replies_this_turn > 1;
  r->replies_this_turn = 0;
  return FALSE;
}

static void
release_finalize (GSource *source)
{
  MrReplyBatch *r = (MrReplyBatch *) source;

  release_held (r);
  g_ptr_array_unref (r->held);
}

static GSourceFuncs release_funcs = { release_prepare, NULL, NULL, release_finalize, NULL, NULL };

/**
 * mr_reply_batch_new: (skip)
 * @context: the context that runs the server whose replies are batched
 *
 * Returns: (transfer full): a batch, to free before @context goes
 */
MrReplyBatch *
mr_reply_batch_new (GMainContext *context)
{
  MrReplyBatch *batch = (MrReplyBatch *) g_source_new (&release_funcs, sizeof (MrReplyBatch));

  batch->held = g_ptr_array_new_with_free_func (g_object_unref);
  g_source_set_priority (&batch->source, RELEASE_PRIORITY);
  g_source_set_static_name (&batch->source, "mock-runner reply batch");
  g_source_attach (&batch->source, context);
  return batch;
}

/**
 * mr_reply_batch_hold: (skip)
 * @batch: (nullable): the batch of @msg's server, %NULL once it is shutting down
 * @msg: a message whose reply is set and complete, not yet written
 *
 * Holds the reply until the end of the current main-loop turn. Call on the server's
 * thread.
 */
void
mr_reply_batch_hold (MrReplyBatch *batch, SoupServerMessage *msg)
{
  GSocket *socket;

  if (batch == NULL)  /* the server is shutting down */
    return;
  socket = soup_server_message_get_socket (msg);
  if (socket == NULL || g_socket_is_closed (socket) ||
      g_socket_get_family (socket) == G_SOCKET_FAMILY_UNIX)
    return;
  set_cork (socket, TRUE);
  g_ptr_array_add (batch->held, g_object_ref (socket));
  batch->replies_this_turn++;
}

/**
 * mr_reply_batch_written: (skip)
 * @batch: (nullable): the batch of @msg's server, %NULL once it is shutting down
 * @msg: a message whose reply has been written
 *
 * Releases @msg's reply at once unless the last turn that made replies made more than
 * one: a lone client waiting for each reply before it sends the next request gains nothing
 * from the batch, and would wait for the rest of the turn. Call on the server's thread.
 */
void
mr_reply_batch_written (MrReplyBatch *batch, SoupServerMessage *msg)
{
  guint i;

  if (batch == NULL || batch->batching || batch->held->len == 0)
    return;
  if (g_ptr_array_find (batch->held, soup_server_message_get_socket (msg), &i))
    {
      set_cork (batch->held->pdata[i], FALSE);
      g_ptr_array_remove_index_fast (batch->held, i);
    }
}

/**
 * mr_reply_batch_free: (skip)
 * @batch: (transfer full) (nullable): a batch
 *
 * Releases what is held and stops batching.
 */
void
mr_reply_batch_free (MrReplyBatch *batch)
{
  if (batch == NULL)
    return;
  g_source_destroy (&batch->source);
  g_source_unref (&batch->source);
}
