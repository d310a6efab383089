#pragma once
// graft: one include for the whole public API.
#include "graft/core/dtype.h"
#include "graft/core/error.h"
#include "graft/core/limits.h"
#include "graft/core/shape.h"
#include "graft/core/tensor.h"
#include "graft/graph/graph.h"
#include "graft/graph/ops.h"
#include "graft/graph/passes.h"
#if __has_include("graft/autodiff/gradient.h")
#include "graft/autodiff/gradient.h"
#endif
#if __has_include("graft/backend/backend.h")
#include "graft/backend/backend.h"
#endif
#if __has_include("graft/backend/exec.h")
#include "graft/backend/exec.h"
#endif
#if __has_include("graft/context/context.h")
#include "graft/context/checkpoint.h"
#include "graft/context/context.h"
#endif
