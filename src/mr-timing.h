/* mr-timing.h: lifecycle timing, after moto's state manager. Sandbox backends put a
 * sandbox in an intermediate state (creating, starting, stopping...) and hand the step
 * to the final one to mr_runner_run_transition(); the timing decides when it runs:
 * at once, after a delay, or when a test advances it. Set globally or per sandbox. */
#pragma once

#include "mr-types.h"

G_BEGIN_DECLS

/**
 * MrTimingMode:
 * @MR_TIMING_MODE_IMMEDIATE: transitions complete before the request that started
 *   them is answered (the default, as in the Go mock)
 * @MR_TIMING_MODE_DELAY: each transition completes after a delay, so intermediate
 *   states are visible to polling clients
 * @MR_TIMING_MODE_MANUAL: transitions wait until mr_runner_advance() (or
 *   POST /_mock/timing/advance)
 *
 * When lifecycle transitions complete.
 */
typedef enum {
  MR_TIMING_MODE_IMMEDIATE,
  MR_TIMING_MODE_DELAY,
  MR_TIMING_MODE_MANUAL,
} MrTimingMode;

const char  *mr_timing_mode_to_string (MrTimingMode mode);
gboolean     mr_timing_mode_from_string (const char *string, MrTimingMode *mode);

void         mr_runner_set_timing (MrRunner *self, const char *sandbox_id, MrTimingMode mode, guint delay_ms);
void         mr_runner_unset_timing (MrRunner *self, const char *sandbox_id);
MrTimingMode mr_runner_get_timing (MrRunner *self, const char *sandbox_id, guint *delay_ms);
guint        mr_runner_advance (MrRunner *self, const char *sandbox_id);
guint        mr_runner_count_pending_transitions (MrRunner *self, const char *sandbox_id);

G_END_DECLS
