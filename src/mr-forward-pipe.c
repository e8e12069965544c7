/* mr-forward-pipe.c: a request body on its way to the upstream.
 *
 * The server hands the body over chunk by chunk ("got-chunk"); the HTTP client reads a
 * GInputStream. This stream sits between the two: chunks are queued until read, and
 * the forward pauses the server message while too much is queued. read_async is
 * implemented here, on the calling thread's context, rather than inherited: the
 * inherited one would run the read in a worker thread, racing the queue. */
#include <string.h>

#include "mr-forward-private.h"

struct _MrForwardPipe {
  GInputStream parent_instance;
  GQueue chunks;           /* GBytes, oldest first */
  gsize offset;            /* read position in the head chunk */
  gsize queued;
  gboolean finished;       /* no more chunks will come */
  gboolean discarding;     /* the upstream stopped caring: drop everything */
  GTask *pending;          /* a read waiting for data */
  void *pending_buffer;
  gsize pending_count;
  MrForwardPipeDrainFunc drain;
  gpointer drain_data;
};

G_DEFINE_FINAL_TYPE (MrForwardPipe, mr_forward_pipe, G_TYPE_INPUT_STREAM)

static gsize
take (MrForwardPipe *self, void *buffer, gsize count)
{
  gsize done = 0;

  while (done < count && !g_queue_is_empty (&self->chunks))
    {
      GBytes *head = g_queue_peek_head (&self->chunks);
      gsize size;
      const guint8 *data = g_bytes_get_data (head, &size);
      gsize n = MIN (count - done, size - self->offset);

      memcpy ((guint8 *) buffer + done, data + self->offset, n);
      done += n;
      self->offset += n;
      self->queued -= n;
      if (self->offset == size)
        {
          g_bytes_unref (g_queue_pop_head (&self->chunks));
          self->offset = 0;
        }
    }
  return done;
}

static void
notify_drain (MrForwardPipe *self)
{
  if (self->drain)
    self->drain (self->drain_data);
}

/* Completes the pending read, if there is something to complete it with. */
static void
serve_pending (MrForwardPipe *self)
{
  g_autoptr(GTask) task = NULL;
  gsize n;

  if (self->pending == NULL || (g_queue_is_empty (&self->chunks) && !self->finished))
    return;
  task = g_steal_pointer (&self->pending);
  n = take (self, self->pending_buffer, self->pending_count);
  g_task_return_int (task, (gssize) n);
  notify_drain (self);
}

static gssize
pipe_read (GInputStream *stream, void *buffer, gsize count, GCancellable *cancellable, GError **error)
{
  MrForwardPipe *self = MR_FORWARD_PIPE (stream);
  gsize n;

  if (g_queue_is_empty (&self->chunks) && !self->finished)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK, "no request body data yet");
      return -1;
    }
  n = take (self, buffer, count);
  notify_drain (self);
  return (gssize) n;
}

static void
pipe_read_async (GInputStream *stream, void *buffer, gsize count, int io_priority,
                 GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  MrForwardPipe *self = MR_FORWARD_PIPE (stream);
  GTask *task = g_task_new (stream, cancellable, callback, user_data);

  g_task_set_source_tag (task, pipe_read_async);
  g_task_set_return_on_cancel (task, FALSE);
  if (self->pending)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_PENDING, "a read is already pending");
      g_object_unref (task);
      return;
    }
  self->pending = task;
  self->pending_buffer = buffer;
  self->pending_count = count;
  serve_pending (self);
}

static gssize
pipe_read_finish (GInputStream *stream, GAsyncResult *result, GError **error)
{
  return g_task_propagate_int (G_TASK (result), error);
}

static gssize
pipe_skip (GInputStream *stream, gsize count, GCancellable *cancellable, GError **error)
{
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, "cannot skip a request body");
  return -1;
}

/**
 * mr_forward_pipe_new: (skip)
 *
 * Returns: (transfer full): an empty pipe
 */
MrForwardPipe *
mr_forward_pipe_new (void)
{
  return g_object_new (MR_TYPE_FORWARD_PIPE, NULL);
}

/* Queues a chunk of the request body. */
void
mr_forward_pipe_push (MrForwardPipe *self, GBytes *bytes)
{
  if (self->discarding || self->finished || g_bytes_get_size (bytes) == 0)
    return;
  g_queue_push_tail (&self->chunks, g_bytes_ref (bytes));
  self->queued += g_bytes_get_size (bytes);
  serve_pending (self);
}

/* The whole body has been queued: reads end once it is consumed. */
void
mr_forward_pipe_finish (MrForwardPipe *self)
{
  self->finished = TRUE;
  serve_pending (self);
}

/* Drops what is queued and what comes: nobody will read it. */
void
mr_forward_pipe_discard (MrForwardPipe *self)
{
  self->discarding = TRUE;
  g_queue_clear_full (&self->chunks, (GDestroyNotify) g_bytes_unref);
  self->offset = 0;
  self->queued = 0;
  notify_drain (self);
}

/* Ends the stream with an error: a pending read fails (the exchange is over). */
void
mr_forward_pipe_abort (MrForwardPipe *self)
{
  self->drain = NULL;
  self->finished = TRUE;
  g_queue_clear_full (&self->chunks, (GDestroyNotify) g_bytes_unref);
  self->offset = 0;
  self->queued = 0;
  if (self->pending)
    {
      g_autoptr(GTask) task = g_steal_pointer (&self->pending);
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "the request was cancelled");
    }
}

gsize
mr_forward_pipe_get_queued (MrForwardPipe *self)
{
  return self->queued;
}

/* @func runs after each read that consumed data (and after a discard). */
void
mr_forward_pipe_set_drain_func (MrForwardPipe *self, MrForwardPipeDrainFunc func, gpointer user_data)
{
  self->drain = func;
  self->drain_data = user_data;
}

static void
mr_forward_pipe_init (MrForwardPipe *self)
{
  g_queue_init (&self->chunks);
}

static void
mr_forward_pipe_dispose (GObject *object)
{
  mr_forward_pipe_abort (MR_FORWARD_PIPE (object));
  G_OBJECT_CLASS (mr_forward_pipe_parent_class)->dispose (object);
}

static void
mr_forward_pipe_class_init (MrForwardPipeClass *klass)
{
  GInputStreamClass *stream_class = G_INPUT_STREAM_CLASS (klass);

  G_OBJECT_CLASS (klass)->dispose = mr_forward_pipe_dispose;
  stream_class->read_fn = pipe_read;
  stream_class->read_async = pipe_read_async;
  stream_class->read_finish = pipe_read_finish;
  stream_class->skip = pipe_skip;
  /* no close_fn: the inherited close_async would otherwise run it in a thread */
}
