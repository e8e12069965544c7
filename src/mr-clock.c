/* mr-clock.c: the runner's clock, real time plus an offset a test advances.
 *
 * The offset only grows (a clock going back would make expired things valid again and
 * break the monotonic reading), and reset sets it back to zero along with the state it
 * aged. It is read from the server thread and from the ssh gateway's connection threads,
 * and advanced from any thread: a mutex, not the server thread, guards it, so reading the
 * time never waits for the main loop.
 *
 * Lifecycle "delay" timers are not on this clock: they stay real GLib timeouts (a test
 * completes waiting transitions with mr_runner_advance(), which needs no clock). */
#include "mr-clock.h"
#include "mr-runner-private.h"
#include "mr-error.h"

struct _MrClock {
  GMutex lock;
  gint64 offset_us;
};

MrClock *
mr_clock_new (void)
{
  MrClock *clock = g_new0 (MrClock, 1);

  g_mutex_init (&clock->lock);
  return clock;
}

void
mr_clock_free (MrClock *clock)
{
  if (clock == NULL)
    return;
  g_mutex_clear (&clock->lock);
  g_free (clock);
}

gint64
mr_clock_get_offset (MrClock *clock)
{
  gint64 offset;

  g_mutex_lock (&clock->lock);
  offset = clock->offset_us;
  g_mutex_unlock (&clock->lock);
  return offset;
}

gint64
mr_clock_real_time (MrClock *clock)
{
  return g_get_real_time () + mr_clock_get_offset (clock);
}

gint64
mr_clock_monotonic_time (MrClock *clock)
{
  return g_get_monotonic_time () + mr_clock_get_offset (clock);
}

gboolean
mr_clock_advance (MrClock *clock, gint64 usec, GError **error)
{
  gboolean ok;

  if (usec < 0)
    {
      g_set_error (error, MR_ERROR, MR_ERROR_INVALID_ARGUMENT, "the clock only goes forward (got %" G_GINT64_FORMAT
                   " us)", usec);
      return FALSE;
    }
  g_mutex_lock (&clock->lock);
  ok = usec <= MR_CLOCK_MAX_OFFSET_US - clock->offset_us;
  if (ok)
    clock->offset_us += usec;
  g_mutex_unlock (&clock->lock);
  if (!ok)
    g_set_error (error, MR_ERROR, MR_ERROR_INVALID_ARGUMENT, "the clock cannot be more than %d days ahead",
                 (int) (MR_CLOCK_MAX_OFFSET_US / G_TIME_SPAN_DAY));
  return ok;
}

void
mr_clock_reset (MrClock *clock)
{
  g_mutex_lock (&clock->lock);
  clock->offset_us = 0;
  g_mutex_unlock (&clock->lock);
}

/* The runner's clock methods ------------------------------------------------------------ */

/**
 * mr_runner_get_real_time:
 * @self: a runner
 *
 * The runner's wall clock: what g_get_real_time() returns, plus the offset tests
 * advance with mr_runner_advance_clock(). Timestamps the runner reports (a sandbox's
 * createdAt and updatedAt, an SSH access token's expiresAt) and wall-clock expiries read
 * it. Safe from any thread.
 *
 * Returns: microseconds since the Unix epoch
 */
gint64
mr_runner_get_real_time (MrRunner *self)
{
  g_return_val_if_fail (MR_IS_RUNNER (self), 0);
  return mr_clock_real_time (mr_runner_get_clock (self));
}

/**
 * mr_runner_get_monotonic_time:
 * @self: a runner
 *
 * The runner's monotonic clock: what g_get_monotonic_time() returns, plus the offset
 * tests advance with mr_runner_advance_clock(). Retention periods (the sandbox state
 * cache of CACHE_RETENTION_DAYS) are measured on it. Safe from any thread.
 *
 * Returns: microseconds
 */
gint64
mr_runner_get_monotonic_time (MrRunner *self)
{
  g_return_val_if_fail (MR_IS_RUNNER (self), 0);
  return mr_clock_monotonic_time (mr_runner_get_clock (self));
}

/**
 * mr_runner_get_clock_offset:
 * @self: a runner
 *
 * Returns: how far the runner's clock is ahead of the real time, in microseconds (0
 *   until a test advances it, and again after mr_runner_reset())
 */
gint64
mr_runner_get_clock_offset (MrRunner *self)
{
  g_return_val_if_fail (MR_IS_RUNNER (self), 0);
  return mr_clock_get_offset (mr_runner_get_clock (self));
}

/**
 * mr_runner_advance_clock:
 * @self: a runner
 * @usec: how far to move the clock forward, in microseconds (0 or more)
 * @error: return location for a #GError
 *
 * Makes @usec pass at once for everything that expires or ages in the runner: a sandbox
 * nobody polled for CACHE_RETENTION_DAYS reads back as unknown, an SSH access token past
 * its expiresAt is refused. The clock never goes back (reset returns it to the real
 * time), and stays within 100 years of it. Lifecycle transitions in "delay" timing keep
 * real timers: use mr_runner_advance() to complete them. Safe from any thread; takes
 * effect for every request served after it returns.
 *
 * Returns: %TRUE, or %FALSE with @error (%MR_ERROR_INVALID_ARGUMENT) if @usec is
 *   negative or would move the clock too far
 */
gboolean
mr_runner_advance_clock (MrRunner *self, gint64 usec, GError **error)
{
  g_return_val_if_fail (MR_IS_RUNNER (self), FALSE);
  return mr_clock_advance (mr_runner_get_clock (self), usec, error);
}
