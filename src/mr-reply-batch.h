/* mr-reply-batch.h: the complete replies of one main-loop turn leave together. */
#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

typedef struct _MrReplyBatch MrReplyBatch;

MrReplyBatch *mr_reply_batch_new  (GMainContext *context);
void          mr_reply_batch_hold (MrReplyBatch *batch, SoupServerMessage *msg);
void          mr_reply_batch_written (MrReplyBatch *batch, SoupServerMessage *msg);
void          mr_reply_batch_free (MrReplyBatch *batch);

G_END_DECLS
