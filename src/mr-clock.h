/* mr-clock.h: the runner's clock. Everything in the runner that expires or ages (the
 * sandbox state cache of CACHE_RETENTION_DAYS, SSH access tokens, sandbox timestamps)
 * reads the time from its runner instead of the system, so that a test can make days
 * pass at once: the clock is the real time plus an offset the test advances. Each runner
 * has its own clock; reset returns its offset to zero. */
#pragma once

#include "mr-types.h"

G_BEGIN_DECLS

gint64   mr_runner_get_real_time (MrRunner *self);
gint64   mr_runner_get_monotonic_time (MrRunner *self);
gint64   mr_runner_get_clock_offset (MrRunner *self);
gboolean mr_runner_advance_clock (MrRunner *self, gint64 usec, GError **error);

G_END_DECLS
