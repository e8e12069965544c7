/* mr-log-framing.h: the session log format (toolbox-api.md section 3.4).
 *
 * Every line a session command writes to stdout is stored in output.log as
 * "\x01\x01\x01" + line + "\n", every stderr line as "\x02\x02\x02" + line + "\n"; a
 * final partial line gets its "\n" too. Clients demultiplex on the markers; old clients
 * (combinedOutput) get the text with the markers removed. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define MR_LOG_MARKER_LEN 3
#define MR_LOG_STDOUT_MARKER "\001\001\001"
#define MR_LOG_STDERR_MARKER "\002\002\002"

typedef enum {
  MR_LOG_STDOUT = 1,
  MR_LOG_STDERR = 2,
} MrLogStream;

/* Frames one stream into marker-prefixed lines, whatever the chunk boundaries. */
typedef struct {
  MrLogStream stream;
  GByteArray *partial;      /* the current line, not yet ended by "\n" */
} MrLineFramer;

void mr_line_framer_init (MrLineFramer *framer, MrLogStream stream);
void mr_line_framer_clear (MrLineFramer *framer);
void mr_line_framer_feed (MrLineFramer *framer, const guint8 *data, gsize len, GByteArray *out);
void mr_line_framer_finish (MrLineFramer *framer, GByteArray *out);
void mr_log_frame_text (MrLogStream stream, const guint8 *data, gsize len, GByteArray *out);

/* Removes the markers from a stream cut into arbitrary chunks (a marker may be split
 * across two chunks: up to two trailing bytes are held back). */
typedef struct {
  guint8 held[MR_LOG_MARKER_LEN - 1];
  guint n_held;
} MrMarkerStripper;

void mr_marker_stripper_init (MrMarkerStripper *stripper);
void mr_marker_stripper_feed (MrMarkerStripper *stripper, const guint8 *data, gsize len, GByteArray *out);
void mr_marker_stripper_finish (MrMarkerStripper *stripper, GByteArray *out);
GByteArray *mr_log_strip_markers (const guint8 *data, gsize len);

/* Splits a whole log into its stdout and stderr text (bytes before the first marker
 * are dropped, as the SDK demultiplexers do). */
void mr_log_demux (const guint8 *data, gsize len, GByteArray *out_stdout, GByteArray *out_stderr);

gboolean mr_log_parse_exit_code (const char *text, gsize len, int *exit_code);

/* Output as a JSON-safe string: invalid UTF-8 (and NUL) become U+FFFD, as Go does */
char *mr_log_to_utf8 (const guint8 *data, gsize len);

G_END_DECLS
