/* mr-fd-reader.h: reads a pipe or FIFO as data arrives, on the thread-default main
 * context, never blocking. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _MrFdReader MrFdReader;

/* Called with each chunk read, then once with @len 0 at end of file (or on a read
 * error). Return FALSE if the reader was freed from inside the callback. */
typedef gboolean (*MrFdReadFunc) (const guint8 *data, gsize len, gpointer user_data);

MrFdReader *mr_fd_reader_new (int fd, MrFdReadFunc func, gpointer user_data);
int         mr_fd_reader_get_fd (MrFdReader *reader);
void        mr_fd_reader_free (MrFdReader *reader);

G_END_DECLS
