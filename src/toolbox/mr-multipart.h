/* mr-multipart.h: an incremental (push) parser for multipart/form-data bodies.
 *
 * The body is fed in chunks of any size as it arrives; the parser reports each part's
 * headers, then its data in slices, then its end, and never holds more than a part's
 * headers plus one delimiter's worth of data. Delimiters and headers may be split across
 * chunks anywhere. Not installed. */
#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

#define MR_MULTIPART_ERROR (mr_multipart_error_quark ())
GQuark mr_multipart_error_quark (void);

typedef enum {
  MR_MULTIPART_ERROR_MALFORMED,   /* the body is not valid multipart */
  MR_MULTIPART_ERROR_TRUNCATED,   /* the body ended before the close delimiter */
} MrMultipartError;

typedef struct _MrMultipartParser MrMultipartParser;

/* Each callback may fail (return FALSE and set @error): feeding then stops with that
 * error and the parser accepts no more input. */
typedef struct {
  /* A part's headers are complete; @headers is valid until part_end. */
  gboolean (*part_begin) (SoupMessageHeaders *headers, gpointer user_data, GError **error);
  /* Some of the part's data; called any number of times, never with @len 0. */
  gboolean (*part_data) (const guint8 *data, gsize len, gpointer user_data, GError **error);
  /* The part's closing delimiter was seen. */
  gboolean (*part_end) (gpointer user_data, GError **error);
} MrMultipartCallbacks;

MrMultipartParser *mr_multipart_parser_new (const char *boundary, const MrMultipartCallbacks *callbacks,
                                            gpointer user_data);
void      mr_multipart_parser_free (MrMultipartParser *parser);
gboolean  mr_multipart_parser_feed (MrMultipartParser *parser, const void *data, gsize len, GError **error);
gboolean  mr_multipart_parser_finish (MrMultipartParser *parser, GError **error);
gboolean  mr_multipart_parser_is_done (MrMultipartParser *parser);

char     *mr_multipart_get_boundary (const char *content_type);
char     *mr_multipart_part_get_param (SoupMessageHeaders *headers, const char *param);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MrMultipartParser, mr_multipart_parser_free)

G_END_DECLS
