/* tape.h: the recording side of GradientTape, for graph.c. */
#ifndef KCL_TAPE_H
#define KCL_TAPE_H

#include "internal.h"

/* Records node on every recording tape of ctx that tracks one of its inputs
 * (a watched tensor, a variable, or the output of a recorded op). */
kcl_status kcl__tape_record(kcl_context *ctx, const kcl_node *node);

#endif
