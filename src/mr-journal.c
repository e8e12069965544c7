/* mr-journal.c: the request journal and the hooks that feed it.
 *
 * When an entry is written. A test asserts on the journal right after its HTTP call
 * returns, so the entry (and the request-served signal) must exist before the client
 * can have the reply:
 *   - a reply decided synchronously (every runner API route, every early error) is
 *     recorded once the body is read and the handlers ran, before libsoup writes a
 *     single byte of the response (mr_journal_body_read(), which the runner calls at
 *     the end of its handler, or from request-read when the reply was decided before);
 *   - a paused (asynchronous) reply is recorded in "wrote-headers" (or
 *     "wrote-informational" for 101), emitted on the server thread right after the
 *     status line and headers are written and before any body byte is. Journal queries
 *     run on the server thread too, so a query made after the client saw the headers
 *     is served after that signal handler returned.
 * A request still waiting for its reply is in the journal as not completed (status 0).
 *
 * Signal handlers on the message are connected only where they can fire, because each
 * costs about as much per request as routing it (docs/performance.md): "got-chunk" when
 * the headers announce a body; "wrote-headers" once a reply is left pending when the
 * body is read, or from the start for requests that can be answered before their body
 * is read (Expect: 100-continue) or upgraded (101). The end of a request comes from the
 * server's request-finished and request-aborted signals (mr_journal_complete()).
 *
 * Control routes (/_mock/...) are not recorded: a test's own bookkeeping must not show
 * up in what it asserts on. */
#include <string.h>

#include "mr-runner-private.h"
#include "mr-http.h"

struct _MrJournalEntry {
  gatomicrefcount ref;       /* shared by the journal and the request's tracker */
  guint64 sequence;
  gint64 time;               /* wall clock, microseconds since the epoch */
  gint64 started_us;         /* monotonic, for the duration */
  /* The strings live in the same allocation as the entry, after it: a full journal frees
   * an entry per request, long after it was written, so each allocation is a cache miss
   * (docs/performance.md). */
  const char **strings;      /* method, path, query, sandbox id, route, then the headers */
  const char *method;
  const char *path;
  const char *query;
  const char *sandbox_id;
  const char *route;
  const char **headers;      /* name, value, name, value... */
  guint n_headers;           /* names and values */
  guint64 body_size;
  char *fault;               /* its own allocation: faults are rare */
  guint status;
  gboolean completed;
  gint64 duration;           /* microseconds; -1 until completed */
};

struct _MrJournal {
  GMutex lock;
  /* a ring: a list would cost an allocation per request, and a cache miss more when the
   * oldest entry goes */
  MrJournalEntry **ring;     /* capacity slots; the oldest entry at head */
  guint capacity;
  guint head;
  guint length;
  guint max_entries;
  guint64 next_sequence;
  guint64 dropped;
};

G_DEFINE_BOXED_TYPE (MrJournalEntry, mr_journal_entry, mr_journal_entry_copy, mr_journal_entry_free)

/* A string to store: @len bytes of @text, then @tail if not NULL; @text NULL stores NULL. */
typedef struct {
  const char *text;
  gsize len;
  const char *tail;
} Piece;

enum { PIECE_METHOD, PIECE_PATH, PIECE_QUERY, PIECE_SANDBOX_ID, PIECE_ROUTE, PIECE_HEADERS };

/* A new entry holding the pieces (see MrJournalEntry.strings for their order) in the same
 * block: the entry, the strings' pointers, then their bytes. */
static MrJournalEntry *
entry_new (const Piece *pieces, guint n_pieces)
{
  gsize size = sizeof (MrJournalEntry) + n_pieces * sizeof (char *);
  MrJournalEntry *entry;
  const char **pointers;
  char *p;

  for (guint i = 0; i < n_pieces; i++)
    if (pieces[i].text)
      size += pieces[i].len + (pieces[i].tail ? strlen (pieces[i].tail) : 0) + 1;
  entry = g_malloc0 (size);
  g_atomic_ref_count_init (&entry->ref);
  pointers = (const char **) (entry + 1);
  p = (char *) (pointers + n_pieces);
  for (guint i = 0; i < n_pieces; i++)
    {
      if (pieces[i].text == NULL)
        {
          pointers[i] = NULL;
          continue;
        }
      pointers[i] = p;
      memcpy (p, pieces[i].text, pieces[i].len);
      p += pieces[i].len;
      if (pieces[i].tail)
        p = g_stpcpy (p, pieces[i].tail);
      *p++ = '\0';
    }
  entry->strings = pointers;
  entry->method = pointers[PIECE_METHOD];
  entry->path = pointers[PIECE_PATH];
  entry->query = pointers[PIECE_QUERY];
  entry->sandbox_id = pointers[PIECE_SANDBOX_ID];
  entry->route = pointers[PIECE_ROUTE];
  entry->headers = pointers + PIECE_HEADERS;
  entry->n_headers = n_pieces - PIECE_HEADERS;
  entry->duration = -1;
  return entry;
}

static Piece
whole (const char *text)
{
  Piece piece = { text, text ? strlen (text) : 0, NULL };

  return piece;
}

static MrJournalEntry *
entry_ref (MrJournalEntry *entry)
{
  g_atomic_ref_count_inc (&entry->ref);
  return entry;
}

/**
 * mr_journal_entry_free:
 * @entry: an entry
 *
 * Releases @entry.
 */
void
mr_journal_entry_free (MrJournalEntry *entry)
{
  if (entry == NULL || !g_atomic_ref_count_dec (&entry->ref))
    return;
  g_free (entry->fault);
  g_free (entry);
}

/**
 * mr_journal_entry_copy:
 * @entry: an entry
 *
 * Returns: (transfer full): a copy of @entry that does not change afterwards
 */
MrJournalEntry *
mr_journal_entry_copy (const MrJournalEntry *entry)
{
  guint n_pieces = PIECE_HEADERS + entry->n_headers;
  g_autofree Piece *pieces = g_new (Piece, n_pieces);
  MrJournalEntry *copy;

  for (guint i = 0; i < n_pieces; i++)
    pieces[i] = whole (entry->strings[i]);
  copy = entry_new (pieces, n_pieces);
  copy->sequence = entry->sequence;
  copy->time = entry->time;
  copy->started_us = entry->started_us;
  copy->body_size = entry->body_size;
  copy->fault = g_strdup (entry->fault);
  copy->status = entry->status;
  copy->completed = entry->completed;
  copy->duration = entry->duration;
  return copy;
}

/**
 * mr_journal_entry_get_sequence:
 * @entry: an entry
 *
 * Returns: the entry's number: 1 for the first request the runner recorded, then
 *   increasing (never reused, not even after a clear)
 */
guint64
mr_journal_entry_get_sequence (const MrJournalEntry *entry)
{
  return entry->sequence;
}

/**
 * mr_journal_entry_get_time:
 * @entry: an entry
 *
 * Returns: when the request arrived, in microseconds since the epoch
 */
gint64
mr_journal_entry_get_time (const MrJournalEntry *entry)
{
  return entry->time;
}

/**
 * mr_journal_entry_get_method:
 * @entry: an entry
 *
 * Returns: (transfer none): the request method, e.g. "POST"
 */
const char *
mr_journal_entry_get_method (const MrJournalEntry *entry)
{
  return entry->method;
}

/**
 * mr_journal_entry_get_path:
 * @entry: an entry
 *
 * Returns: (transfer none): the request path as sent (not decoded), without the query
 */
const char *
mr_journal_entry_get_path (const MrJournalEntry *entry)
{
  return entry->path;
}

/**
 * mr_journal_entry_get_query:
 * @entry: an entry
 *
 * Returns: (transfer none) (nullable): the raw query string (without "?"), or %NULL
 */
const char *
mr_journal_entry_get_query (const MrJournalEntry *entry)
{
  return entry->query;
}

/**
 * mr_journal_entry_get_header:
 * @entry: an entry
 * @name: a header name (any case)
 *
 * Credentials (Authorization, X-Daytona-Authorization, Proxy-Authorization) are
 * recorded with their scheme only, e.g. "Bearer [redacted]".
 *
 * Returns: (transfer none) (nullable): the first value of that request header, or %NULL
 */
const char *
mr_journal_entry_get_header (const MrJournalEntry *entry, const char *name)
{
  for (guint i = 0; i + 1 < entry->n_headers; i += 2)
    if (g_ascii_strcasecmp (entry->headers[i], name) == 0)
      return entry->headers[i + 1];
  return NULL;
}

/**
 * mr_journal_entry_get_headers:
 * @entry: an entry
 *
 * Returns: (transfer container) (element-type utf8 utf8): the request headers, names in
 *   lower case; repeated headers are joined with ", "
 */
GHashTable *
mr_journal_entry_get_headers (const MrJournalEntry *entry)
{
  GHashTable *out = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);

  for (guint i = 0; i + 1 < entry->n_headers; i += 2)
    {
      char *name = g_ascii_strdown (entry->headers[i], -1);
      const char *previous = g_hash_table_lookup (out, name);
      char *value = previous ? g_strconcat (previous, ", ", entry->headers[i + 1], NULL)
                             : g_strdup (entry->headers[i + 1]);
      g_hash_table_replace (out, name, value);
    }
  return out;
}

/**
 * mr_journal_entry_get_body_size:
 * @entry: an entry
 *
 * Returns: how many request body bytes the runner received
 */
guint64
mr_journal_entry_get_body_size (const MrJournalEntry *entry)
{
  return entry->body_size;
}

/**
 * mr_journal_entry_get_sandbox_id:
 * @entry: an entry
 *
 * Returns: (transfer none) (nullable): the sandbox of a /sandboxes/{id}/... route, or %NULL
 */
const char *
mr_journal_entry_get_sandbox_id (const MrJournalEntry *entry)
{
  return entry->sandbox_id;
}

/**
 * mr_journal_entry_get_route:
 * @entry: an entry
 *
 * Returns: (transfer none) (nullable): the pattern of the route that served the request,
 *   e.g. "/sandboxes/{id}/start", or %NULL if no route matched
 */
const char *
mr_journal_entry_get_route (const MrJournalEntry *entry)
{
  return entry->route;
}

/**
 * mr_journal_entry_get_fault:
 * @entry: an entry
 *
 * Returns: (transfer none) (nullable): the id of the fault rule applied to the request,
 *   or %NULL
 */
const char *
mr_journal_entry_get_fault (const MrJournalEntry *entry)
{
  return entry->fault;
}

/**
 * mr_journal_entry_get_status:
 * @entry: an entry
 *
 * Returns: the response status, or 0 while the reply is not decided, or when none was
 *   sent (the client went away, or a fault dropped the connection)
 */
guint
mr_journal_entry_get_status (const MrJournalEntry *entry)
{
  return entry->status;
}

/**
 * mr_journal_entry_get_completed:
 * @entry: an entry
 *
 * Returns: whether the reply was decided (or the request ended without one)
 */
gboolean
mr_journal_entry_get_completed (const MrJournalEntry *entry)
{
  return entry->completed;
}

/**
 * mr_journal_entry_get_duration:
 * @entry: an entry
 *
 * Returns: microseconds from the request's arrival to its reply, or -1 while not completed
 */
gint64
mr_journal_entry_get_duration (const MrJournalEntry *entry)
{
  return entry->duration;
}

static void
add_string_member (JsonBuilder *b, const char *name, const char *value)
{
  json_builder_set_member_name (b, name);
  if (value)
    json_builder_add_string_value (b, value);
  else
    json_builder_add_null_value (b);
}

static void
add_int_member (JsonBuilder *b, const char *name, gint64 value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_int_value (b, value);
}

/**
 * mr_journal_entry_to_json:
 * @entry: an entry
 *
 * The form GET /_mock/requests answers with: {sequence, time (RFC 3339), method, path,
 * query, headers, bodySize, sandboxId, route, fault, status, completed, durationUs}.
 *
 * Returns: (transfer full): @entry as a JSON object
 */
JsonNode *
mr_journal_entry_to_json (const MrJournalEntry *entry)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(GDateTime) when = g_date_time_new_from_unix_utc (entry->time / G_USEC_PER_SEC);
  g_autoptr(GDateTime) precise = g_date_time_add (when, entry->time % G_USEC_PER_SEC);
  g_autofree char *time = g_date_time_format_iso8601 (precise);
  g_autoptr(GHashTable) headers = mr_journal_entry_get_headers (entry);
  g_autoptr(GList) names = g_list_sort (g_hash_table_get_keys (headers), (GCompareFunc) strcmp);

  json_builder_begin_object (b);
  add_int_member (b, "sequence", (gint64) entry->sequence);
  add_string_member (b, "time", time);
  add_string_member (b, "method", entry->method);
  add_string_member (b, "path", entry->path);
  add_string_member (b, "query", entry->query);
  json_builder_set_member_name (b, "headers");
  json_builder_begin_object (b);
  for (GList *l = names; l; l = l->next)
    add_string_member (b, l->data, g_hash_table_lookup (headers, l->data));
  json_builder_end_object (b);
  add_int_member (b, "bodySize", (gint64) entry->body_size);
  add_string_member (b, "sandboxId", entry->sandbox_id);
  add_string_member (b, "route", entry->route);
  add_string_member (b, "fault", entry->fault);
  add_int_member (b, "status", entry->status);
  json_builder_set_member_name (b, "completed");
  json_builder_add_boolean_value (b, entry->completed);
  json_builder_set_member_name (b, "durationUs");
  if (entry->duration >= 0)
    json_builder_add_int_value (b, entry->duration);
  else
    json_builder_add_null_value (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/* Matching, shared with the fault rules ------------------------------------------ */

/* @pattern matches when it is the pattern of the route that served the request
 * ("/sandboxes/{id}/start"), or a glob ('*' and '?') matching the path. */
gboolean
mr_journal_path_matches (const char *pattern, const char *path, const char *route)
{
  if (pattern == NULL || *pattern == '\0')
    return TRUE;
  if (route && strcmp (pattern, route) == 0)
    return TRUE;
  return path && g_pattern_match_simple (pattern, path);
}

static gboolean
entry_matches (const MrJournalEntry *entry, const char *method, const char *path, const char *sandbox_id)
{
  if (method && *method && strcmp (method, "*") != 0 && g_ascii_strcasecmp (method, entry->method) != 0)
    return FALSE;
  if (sandbox_id && *sandbox_id && g_strcmp0 (sandbox_id, entry->sandbox_id) != 0)
    return FALSE;
  return mr_journal_path_matches (path, entry->path, entry->route);
}

/* The store ------------------------------------------------------------------------ */

MrJournal *
mr_journal_new (guint max_entries)
{
  MrJournal *journal = g_new0 (MrJournal, 1);

  g_mutex_init (&journal->lock);
  journal->max_entries = max_entries;
  journal->next_sequence = 1;
  return journal;
}

/* The @i-th entry, oldest first. With the lock held. */
static MrJournalEntry *
nth (MrJournal *journal, guint i)
{
  return journal->ring[(journal->head + i) % journal->capacity];
}

/* Moves the entries to a ring of @capacity slots (at least the length). With the lock held. */
static void
resize (MrJournal *journal, guint capacity)
{
  MrJournalEntry **ring = capacity ? g_new (MrJournalEntry *, capacity) : NULL;

  for (guint i = 0; i < journal->length; i++)
    ring[i] = nth (journal, i);
  g_free (journal->ring);
  journal->ring = ring;
  journal->capacity = capacity;
  journal->head = 0;
}

/* With the lock held. */
static void
drop_oldest (MrJournal *journal)
{
  mr_journal_entry_free (journal->ring[journal->head]);
  journal->head = (journal->head + 1) % journal->capacity;
  journal->length--;
  journal->dropped++;
}

/* With the lock held. */
static void
remove_all (MrJournal *journal)
{
  for (guint i = 0; i < journal->length; i++)
    mr_journal_entry_free (nth (journal, i));
  journal->length = 0;
  resize (journal, 0);
}

void
mr_journal_free (MrJournal *journal)
{
  remove_all (journal);
  g_mutex_clear (&journal->lock);
  g_free (journal);
}

void
mr_journal_set_max_entries (MrJournal *journal, guint max_entries)
{
  g_mutex_lock (&journal->lock);
  journal->max_entries = max_entries;
  while (journal->length > max_entries)
    drop_oldest (journal);
  if (journal->capacity > max_entries)
    resize (journal, max_entries);
  g_mutex_unlock (&journal->lock);
}

guint
mr_journal_get_max_entries (MrJournal *journal)
{
  return journal->max_entries;
}

void
mr_journal_clear (MrJournal *journal)
{
  g_mutex_lock (&journal->lock);
  remove_all (journal);
  journal->dropped = 0;
  g_mutex_unlock (&journal->lock);
}

static void
journal_add (MrJournal *journal, MrJournalEntry *entry)
{
  g_mutex_lock (&journal->lock);
  entry->sequence = journal->next_sequence++;
  if (journal->max_entries == 0)
    journal->dropped++;
  else
    {
      if (journal->length == journal->max_entries)
        drop_oldest (journal);
      else if (journal->length == journal->capacity)
        /* grows by doubling up to the cap, so a small journal stays small */
        resize (journal, MIN (MAX (16, journal->capacity * 2), journal->max_entries));
      journal->ring[(journal->head + journal->length) % journal->capacity] = entry_ref (entry);
      journal->length++;
    }
  g_mutex_unlock (&journal->lock);
}

/* Copies of the matching entries, oldest first. NULL or "" matches anything. */
GPtrArray *
mr_journal_query (MrJournal *journal, const char *method, const char *path, const char *sandbox_id)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) mr_journal_entry_free);

  g_mutex_lock (&journal->lock);
  for (guint i = 0; i < journal->length; i++)
    if (entry_matches (nth (journal, i), method, path, sandbox_id))
      g_ptr_array_add (out, mr_journal_entry_copy (nth (journal, i)));
  g_mutex_unlock (&journal->lock);
  return out;
}

guint64
mr_journal_get_dropped (MrJournal *journal)
{
  guint64 n;

  g_mutex_lock (&journal->lock);
  n = journal->dropped;
  g_mutex_unlock (&journal->lock);
  return n;
}

/* Following one request --------------------------------------------------------------- */

struct _MrJournalTracker {
  MrRunner *runner;          /* outlives its server messages */
  MrExchange *ex;            /* owns the tracker */
  MrJournalEntry *entry;     /* NULL until captured */
  guint64 body_bytes;
  gboolean stored;
  gboolean completed;
  gboolean counting_chunks;  /* got-chunk connected */
  gboolean watching_writes;  /* wrote-headers and wrote-informational connected */
  char *fault;
};

typedef MrJournalTracker Tracker;

/* The exchange's destroy notify frees it. */
void
mr_journal_tracker_free (MrJournalTracker *t)
{
  if (t == NULL)
    return;
  g_clear_pointer (&t->entry, mr_journal_entry_free);
  g_free (t->fault);
  g_free (t);
}

static Tracker *
tracker_of (MrExchange *ex)
{
  return ex ? ex->journal : NULL;
}

static gboolean
is_credential (const char *name)
{
  return g_ascii_strcasecmp (name, "Authorization") == 0 ||
         g_ascii_strcasecmp (name, "X-Daytona-Authorization") == 0 ||
         g_ascii_strcasecmp (name, "Proxy-Authorization") == 0;
}

/* "Bearer secret" -> "Bearer [redacted]", "secret" -> "[redacted]" */
static Piece
redacted (const char *value)
{
  const char *space = strchr (value, ' ');
  Piece piece = { value, space ? (gsize) (space - value) : 0, space ? " [redacted]" : "[redacted]" };

  return piece;
}

static void
capture (Tracker *t, SoupServerMessage *msg)
{
  MrJournalEntry *entry;
  GUri *uri = soup_server_message_get_uri (msg);
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  SoupMessageHeadersIter iter;
  const char *name, *value;
  MrExchange *ex = t->ex;
  Piece stack_pieces[64];
  g_autofree Piece *heap_pieces = NULL;
  Piece *pieces = stack_pieces;
  guint n_pieces = PIECE_HEADERS;
  guint n_fields = 0;

  soup_message_headers_iter_init (&iter, headers);
  while (soup_message_headers_iter_next (&iter, &name, &value))
    n_fields++;
  if (PIECE_HEADERS + 2 * n_fields > G_N_ELEMENTS (stack_pieces))
    pieces = heap_pieces = g_new (Piece, PIECE_HEADERS + 2 * n_fields);
  /* a request libsoup could not parse has neither method nor URI */
  pieces[PIECE_METHOD] = whole (soup_server_message_get_method (msg) ? soup_server_message_get_method (msg) : "");
  pieces[PIECE_PATH] = whole (uri ? g_uri_get_path (uri) : "");
  pieces[PIECE_QUERY] = whole (uri ? g_uri_get_query (uri) : NULL);
  /* routing ran before the capture (or never will) */
  pieces[PIECE_SANDBOX_ID] = whole (ex ? ex->sandbox_id : NULL);
  pieces[PIECE_ROUTE] = whole (ex && ex->route ? ex->route->pattern : NULL);
  soup_message_headers_iter_init (&iter, headers);
  while (soup_message_headers_iter_next (&iter, &name, &value))
    {
      pieces[n_pieces++] = whole (name);
      pieces[n_pieces++] = is_credential (name) ? redacted (value) : whole (value);
    }
  entry = entry_new (pieces, n_pieces);
  entry->time = g_get_real_time ();
  entry->started_us = ex ? ex->started_us : g_get_monotonic_time ();
  t->entry = entry;
}

static void on_got_chunk (SoupServerMessage *msg, GBytes *chunk, Tracker *t);
static void watch_writes (Tracker *t, SoupServerMessage *msg);

/* With the headers read: the handlers this request needs. */
static void
follow_request (Tracker *t, SoupServerMessage *msg)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);

  if (mr_http_request_has_body (msg))
    {
      t->counting_chunks = TRUE;
      g_signal_connect (msg, "got-chunk", G_CALLBACK (on_got_chunk), t);
    }
  if ((soup_message_headers_get_expectations (headers) & SOUP_EXPECTATION_CONTINUE) ||
      soup_message_headers_get_one (headers, "Upgrade"))
    watch_writes (t, msg);
}

/* What only the routing knows, filled in as late as possible. Returns FALSE for
 * requests that must not be recorded. */
static gboolean
describe (Tracker *t, SoupServerMessage *msg)
{
  MrExchange *ex = t->ex;

  if (t->entry == NULL)
    capture (t, msg);
  if ((ex && ex->route && (ex->route->flags & MR_ROUTE_CONTROL)) ||
      g_str_has_prefix (t->entry->path, "/_mock/") || strcmp (t->entry->path, "/_mock") == 0)
    return FALSE;
  if (t->fault && t->entry->fault == NULL)
    t->entry->fault = g_strdup (t->fault);
  t->entry->body_size = t->body_bytes;
  return TRUE;
}

static void
store (Tracker *t, SoupServerMessage *msg)
{
  if (t->stored || !describe (t, msg))
    return;
  t->stored = TRUE;
  journal_add (mr_runner_get_journal (t->runner), t->entry);
}

static void
complete (Tracker *t, SoupServerMessage *msg)
{
  MrJournal *journal = mr_runner_get_journal (t->runner);
  gboolean recorded;

  if (t->completed)
    return;
  t->completed = TRUE;
  /* under the journal's lock: queries from other threads copy under it */
  g_mutex_lock (&journal->lock);
  recorded = describe (t, msg);
  if (recorded)
    {
      t->entry->status = soup_server_message_get_status (msg);
      t->entry->completed = TRUE;
      t->entry->duration = g_get_monotonic_time () - t->entry->started_us;
    }
  g_mutex_unlock (&journal->lock);
  if (!recorded)
    return;
  if (!t->stored)
    {
      t->stored = TRUE;
      journal_add (journal, t->entry);
    }
  mr_runner_emit_request_served (t->runner, t->entry);
}

static void
on_got_chunk (SoupServerMessage *msg, GBytes *chunk, Tracker *t)
{
  t->body_bytes += g_bytes_get_size (chunk);
}

/* The body is read and the handlers ran (or were skipped for a reply decided earlier):
 * the last moment before libsoup writes the reply, if there is one yet. The runner calls
 * this at the end of its handler, or from request-read (emitted before the handlers)
 * when the reply was decided before the body, so no "got-body" handler per request is
 * needed. */
void
mr_journal_body_read (MrExchange *ex)
{
  Tracker *t = tracker_of (ex);
  SoupServerMessage *msg;

  if (t == NULL)
    return;
  msg = ex->msg;
  /* a request libsoup refused before the early handler (so before follow_request())
   * still has its whole body accumulated, as nothing turned that off */
  if (!t->counting_chunks)
    t->body_bytes = soup_server_message_get_request_body (msg)->length;
  if (soup_server_message_get_status (msg) != 0)
    complete (t, msg);
  else
    {
      store (t, msg);   /* paused: visible as pending until its headers are written */
      watch_writes (t, msg);
    }
}

static void
on_wrote_informational (SoupServerMessage *msg, Tracker *t)
{
  /* 100 Continue is not the reply; 101 Switching Protocols is */
  if (soup_server_message_get_status (msg) == SOUP_STATUS_SWITCHING_PROTOCOLS)
    complete (t, msg);
}

static void
on_wrote_headers (SoupServerMessage *msg, Tracker *t)
{
  complete (t, msg);
}

static void
watch_writes (Tracker *t, SoupServerMessage *msg)
{
  if (t->watching_writes || t->completed)
    return;
  t->watching_writes = TRUE;
  g_signal_connect (msg, "wrote-informational", G_CALLBACK (on_wrote_informational), t);
  g_signal_connect (msg, "wrote-headers", G_CALLBACK (on_wrote_headers), t);
}

/* request-started: follow @ex's message until its reply (the exchange keeps the
 * tracker, and is handed to every function below: it is at hand wherever they are
 * called, where looking it up on the message costs a search per call). */
MrJournalTracker *
mr_journal_watch (MrRunner *runner, MrExchange *ex)
{
  Tracker *t = g_new0 (Tracker, 1);

  t->runner = runner;
  t->ex = ex;
  return t;
}

/* Early handler, once routed: the headers as the client sent them. */
void
mr_journal_capture (MrExchange *ex)
{
  Tracker *t = tracker_of (ex);

  if (t && t->entry == NULL)
    {
      capture (t, ex->msg);
      follow_request (t, ex->msg);
    }
}

void
mr_journal_note_fault (MrExchange *ex, const char *fault_id)
{
  Tracker *t = tracker_of (ex);

  if (t && t->fault == NULL)
    t->fault = g_strdup (fault_id);
}

/* The end of the request, or a reply decided outside the usual path (e.g. the
 * connection is about to be dropped): record it now. */
void
mr_journal_complete (MrExchange *ex)
{
  Tracker *t = tracker_of (ex);

  if (t)
    complete (t, ex->msg);
}

/* The runner's journal methods ------------------------------------------------------- */

typedef struct {
  const char *method;
  const char *path;
  const char *sandbox_id;
  GPtrArray *result;
} Query;

static void
query_in_server (MrRunner *runner, gpointer data)
{
  Query *q = data;

  q->result = mr_journal_query (mr_runner_get_journal (runner), q->method, q->path, q->sandbox_id);
}

/**
 * mr_runner_get_requests:
 * @self: a runner
 * @method: (nullable): only requests with this method (any case); %NULL or "*" for all
 * @path: (nullable): only requests whose path matches this glob ('*' matches any run of
 *   characters, '/' included), or that were served by the route of exactly this
 *   pattern (e.g. "/sandboxes/{id}/start"); %NULL for all
 * @sandbox_id: (nullable): only requests about this sandbox; %NULL for all
 *
 * The journal, oldest first. Runs on the server thread, so a request whose response
 * the caller has received is always in the answer.
 *
 * Returns: (transfer container) (element-type MrJournalEntry): the matching entries (the
 *   array frees them)
 */
GPtrArray *
mr_runner_get_requests (MrRunner *self, const char *method, const char *path, const char *sandbox_id)
{
  Query q = { method, path, sandbox_id, NULL };

  g_return_val_if_fail (MR_IS_RUNNER (self), NULL);

  if (!mr_runner_run_on_server (self, query_in_server, &q))
    return g_ptr_array_new_with_free_func ((GDestroyNotify) mr_journal_entry_free);
  return q.result;
}

static void
clear_in_server (MrRunner *runner, gpointer data)
{
  mr_journal_clear (mr_runner_get_journal (runner));
}

/**
 * mr_runner_clear_requests:
 * @self: a runner
 *
 * Empties the journal (sequence numbers keep increasing).
 */
void
mr_runner_clear_requests (MrRunner *self)
{
  g_return_if_fail (MR_IS_RUNNER (self));
  mr_runner_run_on_server (self, clear_in_server, NULL);
}

/**
 * mr_runner_get_requests_dropped:
 * @self: a runner
 *
 * Returns: how many entries the journal evicted (oldest first) to stay within
 *   #MrRunner:journal-size since it was last cleared
 */
guint64
mr_runner_get_requests_dropped (MrRunner *self)
{
  g_return_val_if_fail (MR_IS_RUNNER (self), 0);
  return mr_journal_get_dropped (mr_runner_get_journal (self));
}
