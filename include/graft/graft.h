#pragma once
// graft: one include for the whole public API, every layer (docs/design.md):
//   core      tensors, dtypes, shapes, .npy files, errors
//   graph     Graph, Node, the builder ops, composites, graph passes
//   backend   Backend / Executable, the CPU backend, Exec
//   autodiff  reverse-mode gradients
//   context   variables, hyper-parameters, checkpoints
//   train     losses, optimizers, train steps, Trainer, ONNX models as trainable models
//   onnx      ONNX import (Model, InferenceSession), export, write-back
//   text      Hugging Face tokenizer.json tokenizers
//   hub       the Hugging Face Hub client and cache
//   app       application pipelines: sentence embeddings, texts to tensors, model and tokenizer sources,
//             command-line inputs, benchmarking, device choice
// Every header uses graft's own types only, so `using namespace graft;` is safe next to any library.
#include "graft/core/dtype.h"
#include "graft/core/error.h"
#include "graft/core/limits.h"
#include "graft/core/shape.h"
#include "graft/core/tensor.h"

#include "graft/graph/graph.h"
#include "graft/graph/ops.h"
#include "graft/graph/passes.h"

#include "graft/backend/backend.h"
#include "graft/backend/exec.h"

#include "graft/autodiff/gradient.h"

#include "graft/context/checkpoint.h"
#include "graft/context/context.h"

#include "graft/distributed/communicator.h"
#include "graft/train/losses.h"
#include "graft/train/onnx_bridge.h"
#include "graft/train/optimizer.h"
#include "graft/train/train_step.h"
#include "graft/train/trainer.h"

#include "graft/onnx/export.h"
#include "graft/onnx/model.h"
#include "graft/onnx/session.h"
#include "graft/onnx/writeback.h"

#include "graft/text/tokenizer.h"

#include "graft/hub/hub.h"

#include "graft/app/benchmark.h"
#include "graft/app/device.h"
#include "graft/app/embedder.h"
#include "graft/app/encode.h"
#include "graft/app/errors.h"
#include "graft/app/model_inputs.h"
#include "graft/app/model_source.h"
#include "graft/app/sentence_embedder.h"
#include "graft/app/tokenize_lines.h"
#include "graft/app/tokenizer_source.h"
