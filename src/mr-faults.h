/* mr-faults.h: fault and latency rules. A rule matches requests by method, path (glob
 * or route pattern) and sandbox id, and answers an error, adds a delay or drops the
 * connection; it can be limited to a number of hits and fire with a probability drawn
 * from the runner's seeded random source. */
#pragma once

#include <json-glib/json-glib.h>

#include "mr-types.h"

G_BEGIN_DECLS

/**
 * MrFaultAction:
 * @MR_FAULT_ACTION_ERROR: answer the rule's status with the common error body
 * @MR_FAULT_ACTION_DELAY: wait the rule's delay, then serve the request normally
 * @MR_FAULT_ACTION_DROP: close the connection without an answer
 *
 * What a fault rule does to a request it matches. An error or a drop happens after the
 * rule's delay, if it has one.
 */
typedef enum {
  MR_FAULT_ACTION_ERROR,
  MR_FAULT_ACTION_DELAY,
  MR_FAULT_ACTION_DROP,
} MrFaultAction;

#define MR_TYPE_FAULT_RULE (mr_fault_rule_get_type ())

/**
 * MrFaultRule:
 *
 * A fault or latency rule. Build one with mr_fault_rule_new() and the setters, or from
 * the JSON that POST /_mock/faults accepts, then hand it to mr_runner_add_fault().
 */
typedef struct _MrFaultRule MrFaultRule;

GType        mr_fault_rule_get_type (void) G_GNUC_CONST;
MrFaultRule *mr_fault_rule_new (MrFaultAction action);
MrFaultRule *mr_fault_rule_new_from_json (const char *json, GError **error);
MrFaultRule *mr_fault_rule_new_from_json_node (JsonNode *node, GError **error);
MrFaultRule *mr_fault_rule_copy (const MrFaultRule *rule);
void         mr_fault_rule_free (MrFaultRule *rule);

void          mr_fault_rule_set_method (MrFaultRule *rule, const char *method);
void          mr_fault_rule_set_path (MrFaultRule *rule, const char *path);
void          mr_fault_rule_set_sandbox_id (MrFaultRule *rule, const char *sandbox_id);
void          mr_fault_rule_set_status (MrFaultRule *rule, guint status);
void          mr_fault_rule_set_code (MrFaultRule *rule, const char *code);
void          mr_fault_rule_set_message (MrFaultRule *rule, const char *message);
void          mr_fault_rule_set_delay (MrFaultRule *rule, guint delay_ms);
void          mr_fault_rule_set_times (MrFaultRule *rule, guint times);
void          mr_fault_rule_set_probability (MrFaultRule *rule, double probability);

const char   *mr_fault_rule_get_id (const MrFaultRule *rule);
MrFaultAction mr_fault_rule_get_action (const MrFaultRule *rule);
const char   *mr_fault_rule_get_method (const MrFaultRule *rule);
const char   *mr_fault_rule_get_path (const MrFaultRule *rule);
const char   *mr_fault_rule_get_sandbox_id (const MrFaultRule *rule);
guint         mr_fault_rule_get_status (const MrFaultRule *rule);
const char   *mr_fault_rule_get_code (const MrFaultRule *rule);
const char   *mr_fault_rule_get_message (const MrFaultRule *rule);
guint         mr_fault_rule_get_delay (const MrFaultRule *rule);
guint         mr_fault_rule_get_times (const MrFaultRule *rule);
double        mr_fault_rule_get_probability (const MrFaultRule *rule);
guint         mr_fault_rule_get_hits (const MrFaultRule *rule);
JsonNode     *mr_fault_rule_to_json (const MrFaultRule *rule);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MrFaultRule, mr_fault_rule_free)

char      *mr_runner_add_fault (MrRunner *self, const MrFaultRule *rule, GError **error);
gboolean   mr_runner_remove_fault (MrRunner *self, const char *id);
void       mr_runner_clear_faults (MrRunner *self);
GPtrArray *mr_runner_get_faults (MrRunner *self);

G_END_DECLS
