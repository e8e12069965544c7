/* mr-toolbox-git-run.h: one git request as a chain of `git` programs run asynchronously
 * (never blocking the server thread), with the request paused until the chain answers.
 * Not installed.
 *
 * A job is created by a route handler, runs one git command at a time and gets each
 * result in a step function, which either runs the next command or answers. The job
 * ends when it answers; if the client goes away or the toolbox is reset first, the
 * running git (and everything it started) is killed and the job ends without answer. */
#pragma once

#include "mr-toolbox-private.h"

G_BEGIN_DECLS

typedef struct _MrGitJob MrGitJob;

typedef struct {
  int status;          /* exit status; -1 if git could not run or was killed */
  const char *out;     /* stdout, NUL-terminated (may contain NULs with -z) */
  gsize out_len;
  const char *err;     /* stderr */
} MrGitResult;

typedef void (*MrGitStep) (MrGitJob *job, const MrGitResult *result);

/* Pauses the request. @repo (nullable) is the resolved repository directory: git runs
 * there and does not look for a repository above it. */
MrGitJob   *mr_git_job_new (MrTbCall *call, const char *repo);
MrTbCall   *mr_git_job_get_call (MrGitJob *job);
const char *mr_git_job_get_repo (MrGitJob *job);

/* Per-job data for the step functions; freed with the job. */
void        mr_git_job_set_data (MrGitJob *job, gpointer data, GDestroyNotify destroy);
gpointer    mr_git_job_get_data (MrGitJob *job);

/* Basic auth for the remote of this job's commands, used only when both are given.
 * The secrets reach git through its environment and a credential helper given on the
 * command line: nothing is written to disk or to any configuration. */
void        mr_git_job_set_credentials (MrGitJob *job, const char *username, const char *password);
void        mr_git_job_setenv (MrGitJob *job, const char *name, const char *value);

/* The jobs of one repository run one at a time. The repository is @repo of
 * mr_git_job_new(); clone and init name the directory they create here. */
void        mr_git_job_set_lock (MrGitJob *job, const char *path);

/* Runs `git <config options> [-C repo] @args...`, then @next with the result. @input
 * (nullable) is written to git's stdin. */
void        mr_git_job_run (MrGitJob *job, const char * const *args, GBytes *input, MrGitStep next);
void        mr_git_job_runv (MrGitJob *job, MrGitStep next, ...) G_GNUC_NULL_TERMINATED;

/* Answers and ends the job. */
void        mr_git_job_reply_empty (MrGitJob *job, guint status);
void        mr_git_job_reply_json (MrGitJob *job, guint status, JsonNode *node);
void        mr_git_job_reply_error (MrGitJob *job, guint status, const char *message);

/* The message a go-git based daemon would give for a failed git command: known git
 * texts become go-git's ("authentication required", "reference not found", ...),
 * anything else is git's own fatal/error line without its prefix. */
char       *mr_git_error_message (const MrGitResult *result);

/* Does @path hold a repository (a .git entry, or a bare repository)? */
gboolean    mr_git_repository_exists (const char *path);

/* A job for the repository at @path (relative to the work dir), or NULL after answering
 * 400 "repository does not exist" (go-git's PlainOpen error). */
MrGitJob   *mr_git_job_for_repo (MrTbCall *call, const char *path);

/* Common step: answer @status with an empty body if git succeeded, else the error. */
void        mr_git_step_reply_empty (MrGitJob *job, const MrGitResult *result, guint status);

/* The routes of the newer clients (init, remotes, config, credentials, reset, restore),
 * in mr-toolbox-git-setup.c */
void        mr_tb_register_git_setup (MrRouter *router);

G_END_DECLS
