/* mr-toolbox-children.h: ending child processes the toolbox no longer tracks, without
 * blocking the server thread and without leaving zombies. Not installed. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Sends @signum to the process group of @pid (its own children too), or to @pid alone
 * if it does not lead a group. */
void mr_tb_child_signal (GPid pid, int signum);

/* Sends @signum to the process group and the session of @pid (the child must lead its
 * own session, after setsid() or forkpty(): a shell's background jobs are in other
 * groups of that session), then SIGKILL to them after @grace_ms unless @pid is gone
 * (0: no second signal), and reaps @pid, in a background thread: this never blocks and works
 * even once the caller's main context has stopped. The caller must have destroyed its
 * own child watch of @pid. */
void mr_tb_child_end (GPid pid, int signum, guint grace_ms);

/* The exit code a shell would report for a wait status: the exit status, or 128 plus
 * the signal number for a child killed by a signal. */
int  mr_tb_child_exit_code (int wait_status);

G_END_DECLS
