/* mr-journal.h: the request journal. Every request the runner serves is recorded
 * (method, path, query, headers, body size, sandbox id, status, duration) before its
 * reply goes out, in a journal capped in size that tests query and clear. */
#pragma once

#include <json-glib/json-glib.h>

#include "mr-types.h"

G_BEGIN_DECLS

#define MR_TYPE_JOURNAL_ENTRY (mr_journal_entry_get_type ())

/**
 * MrJournalEntry:
 *
 * One request as the runner saw it. Entries handed out by the runner are copies: they
 * do not change when the request completes later.
 */
typedef struct _MrJournalEntry MrJournalEntry;

GType           mr_journal_entry_get_type (void) G_GNUC_CONST;
MrJournalEntry *mr_journal_entry_copy (const MrJournalEntry *entry);
void            mr_journal_entry_free (MrJournalEntry *entry);

guint64     mr_journal_entry_get_sequence (const MrJournalEntry *entry);
gint64      mr_journal_entry_get_time (const MrJournalEntry *entry);
const char *mr_journal_entry_get_method (const MrJournalEntry *entry);
const char *mr_journal_entry_get_path (const MrJournalEntry *entry);
const char *mr_journal_entry_get_query (const MrJournalEntry *entry);
const char *mr_journal_entry_get_header (const MrJournalEntry *entry, const char *name);
GHashTable *mr_journal_entry_get_headers (const MrJournalEntry *entry);
guint64     mr_journal_entry_get_body_size (const MrJournalEntry *entry);
const char *mr_journal_entry_get_sandbox_id (const MrJournalEntry *entry);
const char *mr_journal_entry_get_route (const MrJournalEntry *entry);
const char *mr_journal_entry_get_fault (const MrJournalEntry *entry);
guint       mr_journal_entry_get_status (const MrJournalEntry *entry);
gboolean    mr_journal_entry_get_completed (const MrJournalEntry *entry);
gint64      mr_journal_entry_get_duration (const MrJournalEntry *entry);
JsonNode   *mr_journal_entry_to_json (const MrJournalEntry *entry);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MrJournalEntry, mr_journal_entry_free)

GPtrArray  *mr_runner_get_requests (MrRunner *self, const char *method, const char *path,
                                    const char *sandbox_id);
void        mr_runner_clear_requests (MrRunner *self);
guint64     mr_runner_get_requests_dropped (MrRunner *self);

G_END_DECLS
