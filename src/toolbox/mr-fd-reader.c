/* mr-fd-reader.c: non-blocking reads of a file descriptor from a main-loop source
 * (mr-fd-reader.h). */
#include <errno.h>
#include <unistd.h>

#include <glib-unix.h>

#include "mr-fd-reader.h"
#include "mr-util.h"

#define READ_CHUNK 65536

struct _MrFdReader {
  int fd;
  GSource *source;
  MrFdReadFunc func;
  gpointer user_data;
};

static gboolean
on_readable (int fd, GIOCondition condition, gpointer user_data)
{
  MrFdReader *reader = user_data;
  guint8 buffer[READ_CHUNK];
  gssize n;

  /* one read per dispatch, so that a chatty child cannot starve the server */
  n = read (fd, buffer, sizeof buffer);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return G_SOURCE_CONTINUE;
  if (n <= 0)
    {
      /* end of file (or an error, which ends the stream too) */
      mr_source_clear (&reader->source);
      reader->func (NULL, 0, reader->user_data);
      return G_SOURCE_REMOVE;
    }
  if (!reader->func (buffer, (gsize) n, reader->user_data))
    return G_SOURCE_REMOVE;
  return G_SOURCE_CONTINUE;
}

/**
 * mr_fd_reader_new: (skip)
 * @fd: (transfer full): the descriptor; made non-blocking, closed by mr_fd_reader_free()
 * @func: called with the data
 * @user_data: data for @func
 *
 * Returns: (transfer full): a reader, reading at once
 */
MrFdReader *
mr_fd_reader_new (int fd, MrFdReadFunc func, gpointer user_data)
{
  MrFdReader *reader = g_new0 (MrFdReader, 1);

  reader->fd = fd;
  reader->func = func;
  reader->user_data = user_data;
  g_unix_set_fd_nonblocking (fd, TRUE, NULL);
  reader->source = g_unix_fd_source_new (fd, G_IO_IN | G_IO_HUP | G_IO_ERR);
  g_source_set_callback (reader->source, (GSourceFunc) (void (*) (void)) on_readable, reader, NULL);
  g_source_attach (reader->source, g_main_context_get_thread_default ());
  return reader;
}

int
mr_fd_reader_get_fd (MrFdReader *reader)
{
  return reader->fd;
}

/**
 * mr_fd_reader_free: (skip)
 *
 * Stops reading and closes the descriptor. May be called from the reader's callback.
 */
void
mr_fd_reader_free (MrFdReader *reader)
{
  if (reader == NULL)
    return;
  mr_source_clear (&reader->source);
  if (reader->fd >= 0)
    close (reader->fd);
  g_free (reader);
}
