#include <gtest/gtest.h>

#include "graft/context/context.h"
#include "graft/graph/ops.h"

using namespace graft;

TEST(Context, ScopedNamesAndLookup) {
  Context ctx;
  auto l0 = ctx.in("encoder").in("layer.0");
  EXPECT_EQ(l0.scope(), "/encoder/layer.0");
  Variable& w = l0.variable("weight", Tensor::zeros(DType::F32, {2, 3}));
  EXPECT_EQ(w.name, "/encoder/layer.0/weight");
  EXPECT_TRUE(ctx.has("/encoder/layer.0/weight"));
  EXPECT_TRUE(ctx.in("encoder").has("layer.0/weight"));
  // get-or-create returns the same variable; mismatched shape is an error naming it
  EXPECT_EQ(&l0.variable("weight", Tensor::zeros(DType::F32, {2, 3})), &w);
  try {
    l0.variable("weight", Tensor::zeros(DType::F32, {3, 3}));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/encoder/layer.0/weight"), std::string::npos);
  }
  EXPECT_THROW(ctx.at("nope"), Error);
  EXPECT_THROW(ctx.in("a/b"), Error);
  // initializer function called once with the full name
  int calls = 0;
  auto init = [&](const std::string& n, DType d, const Shape& s) {
    ++calls;
    EXPECT_EQ(n, "/head/bias");
    return Tensor::full(d, s, 0.5);
  };
  ctx.in("head").variable("bias", DType::F32, Shape{4}, init);
  ctx.in("head").variable("bias", DType::F32, Shape{4}, init);
  EXPECT_EQ(calls, 1);
  EXPECT_FLOAT_EQ(ctx.value("/head/bias").to_vector<float>()[3], 0.5f);
  // iteration in creation order, per scope
  auto all = ctx.variables();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0]->name, "/encoder/layer.0/weight");
  EXPECT_EQ(ctx.in("head").variables().size(), 1u);
  EXPECT_EQ(ctx.num_elements(), 10);
  // integer variables are never trainable
  EXPECT_FALSE(ctx.variable("steps", Tensor::scalar<int64_t>(0)).trainable);
  EXPECT_TRUE(ctx.remove("steps"));
  EXPECT_FALSE(ctx.has("steps"));
}

TEST(Context, FreezeByGlobAndRegex) {
  Context ctx;
  for (std::string l : {"layer.0", "layer.1"})
    for (std::string p : {"weight", "bias", "LayerNorm.weight"})
      ctx.in("encoder").in(l).variable(p, Tensor::zeros(DType::F32, {1}));
  ctx.in("head").variable("weight", Tensor::zeros(DType::F32, {1}));
  EXPECT_EQ(ctx.freeze("/encoder/*"), 6);
  EXPECT_EQ(ctx.trainable_variables().size(), 1u);
  EXPECT_EQ(ctx.unfreeze("re:.*layer\\.1/.*bias"), 1);
  EXPECT_EQ(ctx.trainable_variables().size(), 2u);
  EXPECT_EQ(ctx.in("encoder").unfreeze("layer.0/*"), 3);  // relative glob inside the scope
  EXPECT_TRUE(name_matches("*/bias", "/encoder/layer.0/bias"));
  EXPECT_TRUE(name_matches("/a/?/c", "/a/b/c"));
  EXPECT_FALSE(name_matches("/a/?/c", "/a/bb/c"));
  EXPECT_FALSE(name_matches("re:bias", "/x/bias"));  // regex must match in full
  EXPECT_THROW(name_matches("re:(", "x"), Error);
}

TEST(Context, HyperParameters) {
  Context ctx;
  ctx.set_hparam("lr", 1e-3);
  ctx.set_hparam("epochs", int64_t(3));
  ctx.set_hparam("name", std::string("run"));
  ctx.set_hparam("amsgrad", false);
  EXPECT_DOUBLE_EQ(ctx.in("x").hparam<double>("lr"), 1e-3);  // shared across scopes
  EXPECT_EQ(ctx.hparam<int>("epochs"), 3);
  EXPECT_DOUBLE_EQ(ctx.hparam<double>("epochs"), 3.0);  // ints widen to float
  EXPECT_EQ(ctx.hparam<std::string>("name"), "run");
  EXPECT_FALSE(ctx.hparam<bool>("amsgrad"));
  EXPECT_EQ(ctx.hparam<int>("missing", 7), 7);
  EXPECT_THROW(ctx.hparam<int>("lr"), Error);
  EXPECT_THROW(ctx.hparam<double>("missing"), Error);
}

TEST(Context, CloneIsDeep) {
  Context ctx;
  ctx.variable("w", Tensor({1.f, 2.f}));
  Context c = ctx.clone();
  c.at("w").value.data<float>()[0] = 9;
  EXPECT_FLOAT_EQ(ctx.value("w").to_vector<float>()[0], 1.f);
}

TEST(Context, VariablesBecomeParametersInGraphs) {
  Context ctx;
  ctx.in("lin").variable("w", Tensor({{1.f, 2.f}, {3.f, 4.f}}));
  ctx.in("lin").variable("b", Tensor({10.f, 20.f}));
  ContextExec f(ctx, [](GraphVariables& vars, const std::vector<Node>& in) {
    auto lin = vars.in("lin");
    Node w = lin("w");
    EXPECT_EQ(w.op().kind, OpKind::Parameter);
    EXPECT_EQ(lin("w").ref(), w.ref());  // used twice, bound once
    return std::vector<Node>{MatMul(in[0], w) + lin("b")};
  });
  Tensor x({{1.f, 1.f}});
  EXPECT_EQ(f.call({x})[0].to_vector<float>(), (std::vector<float>{14.f, 26.f}));
  // the compiled step reads the current variable values on each call
  ctx.set_value("/lin/b", Tensor({0.f, 0.f}));
  EXPECT_EQ(f.call({x})[0].to_vector<float>(), (std::vector<float>{4.f, 6.f}));
  EXPECT_EQ(f.num_compilations(), 1);
}
